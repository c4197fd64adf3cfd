-- The step index holds only items past the labeling step. Every item starts at step 0, so the
-- full index took a quarter of a new task's writes (one entry per item: 1M entries for a 1M-item
-- task) for queries that never needed it: step 0 is read by state through `task_items_serve`.
-- Queries on a later step say `step > 0` as well, so a prepared (generic) plan can use it
-- (and SQLite, which takes a partial index only where the query implies its WHERE).
DROP INDEX task_items_step;
CREATE INDEX task_items_step ON task_items (task_id, step, state, priority DESC, order_key, item_id)
    WHERE step > 0;
