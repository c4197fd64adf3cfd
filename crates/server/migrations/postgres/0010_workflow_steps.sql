-- Multi-step workflows: the step each item waits in (0 = labeling; the spec's steps count from
-- there; equal to the number of steps once the item finished its last step). Tasks without
-- steps keep every item at 0. Review queues and per-step priority updates read it by step.
ALTER TABLE task_items ADD COLUMN step BIGINT NOT NULL DEFAULT 0;
CREATE INDEX task_items_step ON task_items (task_id, step, state, priority DESC, order_key, item_id);
