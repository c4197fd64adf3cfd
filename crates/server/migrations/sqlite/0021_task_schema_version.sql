-- How many times the task's schema or kind changed. A first label is checked against the task as
-- its request read it, before it waits for its item; its insert stores it only if this is still
-- the number it was checked against, so a label checked against the old schema is never stored
-- under a new one (the label is checked again instead).
ALTER TABLE tasks ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 0;
