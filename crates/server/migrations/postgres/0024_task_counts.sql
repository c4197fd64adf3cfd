-- A task's item counts (items, labeled, approved, waiting for review) kept as they change, so
-- the task list, task page and progress read a few rows rather than count every item of the
-- task (about a second for a page of 1M-item tasks, growing with the tasks listed).
-- The counts are a sum of rows: a change adds a row of differences and never updates one, so
-- two labels of one task never wait for each other on a counter row (no row is shared by all
-- the work of a task, as the claims need). A sweep folds a task's rows into one now and then.
-- Rows are written by:
--   * the code that puts items into a task (their number, all pending and unlabeled);
--   * the trigger below, when an item's state or its labeled-ness changes (a row trigger with
--     a WHEN clause: the claims' updates of `covered` do not fire it at all, and a label's
--     update runs the function only when a count moves);
--   * the code that takes an item out of a task, and the trigger on deleted items.
-- A deleted task takes its rows with it (trigger on tasks). No foreign key: each insert would
-- look its task up.
CREATE TABLE task_counts (
    task_id BIGINT NOT NULL,
    items BIGINT NOT NULL,
    labeled BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    needs_review BIGINT NOT NULL
);
CREATE INDEX task_counts_task ON task_counts (task_id);

-- Servers still running the release before this one must not change task items between the
-- first count below and the trigger (their change would be in neither): the table is held
-- against writes until this migration commits. Those servers write no rows of counts when they
-- add or remove items, so every server must run this release once it is applied.
LOCK TABLE task_items IN SHARE ROW EXCLUSIVE MODE;

CREATE FUNCTION task_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_counts (task_id, items, labeled, approved, needs_review) VALUES (
        NEW.task_id, 0,
        (NEW.labeled > 0)::int - (OLD.labeled > 0)::int,
        (NEW.state IN ('approved', 'auto_approved'))::int
            - (OLD.state IN ('approved', 'auto_approved'))::int,
        (NEW.state = 'needs_review')::int - (OLD.state = 'needs_review')::int);
    RETURN NULL;
END $$;
CREATE TRIGGER task_items_counted AFTER UPDATE OF state, labeled ON task_items FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
        OR (OLD.labeled > 0) IS DISTINCT FROM (NEW.labeled > 0))
    EXECUTE FUNCTION task_items_count();

INSERT INTO task_counts (task_id, items, labeled, approved, needs_review)
    SELECT task_id, COUNT(*), COUNT(*) FILTER (WHERE labeled > 0),
        COUNT(*) FILTER (WHERE state IN ('approved', 'auto_approved')),
        COUNT(*) FILTER (WHERE state = 'needs_review')
    FROM task_items GROUP BY task_id;

-- Items are deleted only by hand or with their project (the API deletes none): the task items
-- they take with them leave the counts of the tasks that remain.
CREATE FUNCTION task_items_follow_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH d AS (
        DELETE FROM task_items ti USING gone g WHERE ti.item_id = g.id
        RETURNING ti.task_id, ti.labeled, ti.state
    )
    INSERT INTO task_counts (task_id, items, labeled, approved, needs_review)
        SELECT task_id, -COUNT(*), -COUNT(*) FILTER (WHERE labeled > 0),
            -COUNT(*) FILTER (WHERE state IN ('approved', 'auto_approved')),
            -COUNT(*) FILTER (WHERE state = 'needs_review')
        FROM d WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.id = d.task_id) GROUP BY task_id;
    RETURN NULL;
END $$;
DROP TRIGGER items_gone_task_items ON items;
CREATE TRIGGER items_gone_task_items AFTER DELETE ON items REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION task_items_follow_items();

CREATE FUNCTION task_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM task_counts c USING gone g WHERE c.task_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_gone_task_counts AFTER DELETE ON tasks REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION task_counts_follow();
