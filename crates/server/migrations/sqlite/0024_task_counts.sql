-- A task's item counts (items, labeled, approved, waiting for review) kept as they change, so
-- the task list, task page and progress read a few rows rather than count every item of the
-- task (about a second for a page of 1M-item tasks, growing with the tasks listed).
-- The counts are a sum of rows: a change adds a row of differences and never updates one, so
-- on PostgreSQL two labels of one task never wait for each other on a counter row (no row is
-- shared by all the work of a task). A sweep folds a task's rows into one now and then.
-- Rows are written by:
--   * the code that puts items into a task (their number, all pending and unlabeled);
--   * the trigger below, when an item's state or its labeled-ness changes;
--   * the code that takes an item out of a task, and the trigger on deleted items.
-- A deleted task takes its rows with it (trigger on tasks).
CREATE TABLE task_counts (
    task_id BIGINT NOT NULL,
    items BIGINT NOT NULL,
    labeled BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    needs_review BIGINT NOT NULL
);
CREATE INDEX task_counts_task ON task_counts (task_id);

INSERT INTO task_counts (task_id, items, labeled, approved, needs_review)
    SELECT task_id, COUNT(*), SUM(labeled > 0), SUM(state IN ('approved', 'auto_approved')),
        SUM(state = 'needs_review')
    FROM task_items GROUP BY task_id;

CREATE TRIGGER task_items_counted AFTER UPDATE OF state, labeled ON task_items
    WHEN OLD.state IS NOT NEW.state OR (OLD.labeled > 0) IS NOT (NEW.labeled > 0)
BEGIN
    INSERT INTO task_counts (task_id, items, labeled, approved, needs_review) VALUES (
        NEW.task_id, 0,
        (NEW.labeled > 0) - (OLD.labeled > 0),
        (NEW.state IN ('approved', 'auto_approved')) - (OLD.state IN ('approved', 'auto_approved')),
        (NEW.state = 'needs_review') - (OLD.state = 'needs_review'));
END;

-- Items are deleted only by hand or with their project (the API deletes none): the task items
-- they take with them (a foreign key's cascade) leave the counts.
CREATE TRIGGER items_gone_task_counts BEFORE DELETE ON items
BEGIN
    INSERT INTO task_counts (task_id, items, labeled, approved, needs_review)
        SELECT ti.task_id, -1, -(ti.labeled > 0), -(ti.state IN ('approved', 'auto_approved')),
            -(ti.state = 'needs_review')
        FROM task_items ti WHERE ti.item_id = OLD.id;
END;

CREATE TRIGGER tasks_gone_task_counts AFTER DELETE ON tasks
BEGIN
    DELETE FROM task_counts WHERE task_id = OLD.id;
END;
