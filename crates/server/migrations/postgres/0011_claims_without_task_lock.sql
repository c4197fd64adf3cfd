-- Labels no longer write their task's row (that write made every label on a task wait for the
-- one before it on PostgreSQL): a task's last label time is read from its labels, through
-- this index.
CREATE INDEX annotations_task_time ON annotations (task_id, created_at);
