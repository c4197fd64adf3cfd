-- Enumerated columns hold only their enum's values (the server decodes them with `as_str`/
-- `parse`, failing loudly on anything else; these make the database refuse such a write).
-- SQLite cannot add a CHECK to a table. Tables nothing points at are rebuilt with one, by
-- SQLite's documented procedure (create, copy, drop, rename, indexes again); written as
-- comparisons, a CHECK costs the claim path (seats, task_items) nothing measurable. Tables
-- others point at (tasks), or whose AUTOINCREMENT counter a copy would lose (reviews, jobs),
-- get triggers instead: dropping a parent inside this transaction, with foreign keys on,
-- would cascade into its children. The triggers fire only when the column is written.

-- Roles were a comma-separated list in any order: rewrite each in the one stored form
-- (manager, annotator, reviewer order; unknown names dropped) so a role test is an exact
-- comparison, not a LIKE.
UPDATE members SET roles = trim(
    CASE WHEN ',' || roles || ',' LIKE '%,manager,%' THEN 'manager,' ELSE '' END
    || CASE WHEN ',' || roles || ',' LIKE '%,annotator,%' THEN 'annotator,' ELSE '' END
    || CASE WHEN ',' || roles || ',' LIKE '%,reviewer,%' THEN 'reviewer,' ELSE '' END,
    ',');

CREATE TABLE members_checked (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles TEXT NOT NULL CONSTRAINT members_roles_known CHECK (roles IN ('', 'manager',
        'annotator', 'reviewer', 'manager,annotator', 'manager,reviewer',
        'annotator,reviewer', 'manager,annotator,reviewer')),
    PRIMARY KEY (project_id, user_id)
);
INSERT INTO members_checked (project_id, user_id, roles)
    SELECT project_id, user_id, roles FROM members;
DROP TABLE members;
ALTER TABLE members_checked RENAME TO members;

CREATE TABLE task_people_checked (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    role TEXT NOT NULL CONSTRAINT task_people_role_known CHECK (role IN ('annotator', 'reviewer')),
    PRIMARY KEY (task_id, user_id, role)
);
INSERT INTO task_people_checked (task_id, user_id, role)
    SELECT task_id, user_id, role FROM task_people;
DROP TABLE task_people;
ALTER TABLE task_people_checked RENAME TO task_people;
CREATE INDEX task_people_user ON task_people (user_id, role);

CREATE TABLE seats_checked (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL,
    worker_id BIGINT NOT NULL,
    lease_id BIGINT,
    -- Comparisons, not IN: SQLite evaluates an IN list in a CHECK through a temporary table
    -- on every write, about 3 µs per seat update; the comparisons cost nothing measurable.
    state TEXT NOT NULL CONSTRAINT seats_state_known CHECK (state = 'assigned'
        OR state = 'leased' OR state = 'rework' OR state = 'submitted' OR state = 'skipped'
        OR state = 'released' OR state = 'expired'),
    rework_comment TEXT,
    rework_by BIGINT,
    PRIMARY KEY (task_id, item_id, worker_id)
);
INSERT INTO seats_checked (task_id, item_id, worker_id, lease_id, state, rework_comment, rework_by)
    SELECT task_id, item_id, worker_id, lease_id, state, rework_comment, rework_by FROM seats;
DROP TABLE seats;
ALTER TABLE seats_checked RENAME TO seats;
CREATE INDEX seats_worker ON seats (task_id, worker_id);
CREATE INDEX seats_leased ON seats (task_id, worker_id, lease_id) WHERE state = 'leased';
CREATE INDEX seats_waiting ON seats (task_id, worker_id) WHERE state IN ('assigned', 'rework');

CREATE TABLE task_items_checked (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    priority BIGINT NOT NULL,
    order_key BIGINT NOT NULL,
    covered BIGINT NOT NULL DEFAULT 0,
    labeled BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CONSTRAINT task_items_state_known CHECK (
        state = 'pending' OR state = 'auto_approved' OR state = 'needs_review'
        OR state = 'approved' OR state = 'rejected'),
    result TEXT,
    confidence DOUBLE PRECISION,
    step BIGINT NOT NULL DEFAULT 0,
    method TEXT,
    target BIGINT,
    PRIMARY KEY (task_id, item_id)
);
INSERT INTO task_items_checked (task_id, item_id, priority, order_key, covered, labeled, state,
        result, confidence, step, method, target)
    SELECT task_id, item_id, priority, order_key, covered, labeled, state, result, confidence,
        step, method, target FROM task_items;
DROP TABLE task_items;
ALTER TABLE task_items_checked RENAME TO task_items;
CREATE INDEX task_items_serve ON task_items (task_id, state, priority DESC, covered DESC, order_key, item_id);
CREATE INDEX task_items_step ON task_items (task_id, step, state, priority DESC, order_key, item_id);

CREATE TRIGGER tasks_status_known_insert BEFORE INSERT ON tasks
    WHEN NEW.status NOT IN ('open', 'in_progress', 'completed', 'archived')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: tasks_status_known'); END;
CREATE TRIGGER tasks_status_known_update BEFORE UPDATE OF status ON tasks
    WHEN NEW.status NOT IN ('open', 'in_progress', 'completed', 'archived')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: tasks_status_known'); END;
CREATE TRIGGER reviews_decision_known_insert BEFORE INSERT ON reviews
    WHEN NEW.decision NOT IN ('approve', 'reject')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: reviews_decision_known'); END;
CREATE TRIGGER reviews_decision_known_update BEFORE UPDATE OF decision ON reviews
    WHEN NEW.decision NOT IN ('approve', 'reject')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: reviews_decision_known'); END;
CREATE TRIGGER jobs_status_known_insert BEFORE INSERT ON jobs
    WHEN NEW.status NOT IN ('in_progress', 'complete', 'canceling', 'canceled', 'failed')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jobs_status_known'); END;
CREATE TRIGGER jobs_status_known_update BEFORE UPDATE OF status ON jobs
    WHEN NEW.status NOT IN ('in_progress', 'complete', 'canceling', 'canceled', 'failed')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: jobs_status_known'); END;
