-- The method that produced each result: `majority` online, or the aggregation job's method.
ALTER TABLE task_items ADD COLUMN method TEXT;
