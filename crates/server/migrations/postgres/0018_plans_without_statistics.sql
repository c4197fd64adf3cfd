-- Hot statements must plan well on a new database, before autovacuum has gathered any
-- statistics (it looks once a minute). Without them the planner weighs an index by its columns
-- alone: it read a seat through seats_worker (task, worker), every seat of the worker's in the
-- task, rather than through the primary key, on every label (750 rows at 15,000 labels, and
-- growing). Keyed by item too, either index finds one seat by (task, item, worker).
CREATE INDEX seats_worker_item ON seats (task_id, worker_id, item_id);
DROP INDEX seats_worker;
ALTER INDEX seats_worker_item RENAME TO seats_worker;

-- Room on each page for an item's next version: a label rewrites its item's result, and an
-- update that leaves the indexed columns alone can stay on the page without new index entries
-- (a HOT update) only if the page has room. Bulk-loaded pages were packed full.
ALTER TABLE task_items SET (fillfactor = 85);
