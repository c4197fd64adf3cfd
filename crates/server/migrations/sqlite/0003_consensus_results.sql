-- The method that produced each result: `majority` online, or the aggregation job's method.
ALTER TABLE task_items ADD COLUMN method TEXT;
-- The task's last_submitted_at that the latest aggregation job covered: the periodic sweep
-- aggregates a task again only when labels arrived since.
ALTER TABLE tasks ADD COLUMN aggregated_at BIGINT;
