-- A reviewer's corrected answer (JSON, like annotations.value): stored with the decision as the
-- reviewer's own answer; the item's result is set from it (task_items.method = 'review').
ALTER TABLE reviews ADD COLUMN value TEXT;
