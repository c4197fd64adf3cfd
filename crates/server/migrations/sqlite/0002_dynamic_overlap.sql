-- Dynamic overlap: the labels an item is collecting now (NULL = the task's overlap). It grows
-- one at a time while the item stays uncertain, up to the task's maximum.
ALTER TABLE task_items ADD COLUMN target BIGINT;
