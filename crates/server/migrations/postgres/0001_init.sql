-- Quorum's schema. Times are milliseconds since the Unix epoch; JSON is stored as text.
-- The SQLite migration of the same number holds the same tables and indexes.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Only the SHA-256 of a token is kept: a leaked database does not leak sign-ins.
CREATE TABLE tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    auto_archive_days BIGINT,
    created_by BIGINT,
    created_at BIGINT NOT NULL
);

-- roles: a comma-separated subset of manager,annotator,reviewer.
CREATE TABLE members (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE datasets (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    external_id TEXT,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    directory TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    gold TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX items_external ON items (dataset_id, external_id);
CREATE INDEX items_project ON items (project_id, id);

CREATE TABLE uploads (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    dataset_id BIGINT NOT NULL,
    user_id BIGINT,
    format TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    errors TEXT NOT NULL
);

CREATE TABLE saved_searches (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    filter TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- spec: the TaskSpec as JSON; overlap is derived from it and kept as a column for the claim query.
CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    overlap BIGINT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    due_date BIGINT,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_submitted_at BIGINT,
    archive_id BIGINT
);
CREATE INDEX tasks_project ON tasks (project_id, id);

-- Who works on a task, for role checks and task filters.
CREATE TABLE task_people (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (task_id, user_id, role)
);
CREATE INDEX task_people_user ON task_people (user_id, role);

-- covered = seats held by unexpired-or-unswept leases + annotations that count toward overlap.
-- state: pending | auto_approved | needs_review | approved | rejected.
CREATE TABLE task_items (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    priority BIGINT NOT NULL,
    order_key BIGINT NOT NULL,
    covered BIGINT NOT NULL DEFAULT 0,
    labeled BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    result TEXT,
    confidence DOUBLE PRECISION,
    PRIMARY KEY (task_id, item_id)
);
CREATE INDEX task_items_serve ON task_items (task_id, state, priority DESC, covered DESC, order_key, item_id);

CREATE TABLE leases (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    worker_id BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX leases_worker ON leases (worker_id, task_id);

-- One row per (task, item, worker) ever: the primary key is invariant 2.
-- state: assigned (planned, not yet leased) | leased | rework | submitted | skipped | released | expired.
CREATE TABLE seats (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL,
    worker_id BIGINT NOT NULL,
    lease_id BIGINT,
    state TEXT NOT NULL,
    rework_comment TEXT,
    rework_by BIGINT,
    PRIMARY KEY (task_id, item_id, worker_id)
);
CREATE INDEX seats_lease ON seats (lease_id, state);
CREATE INDEX seats_worker ON seats (task_id, worker_id, state);

-- active = 0 once a reviewer rejected it (the rework replaces it).
CREATE TABLE annotations (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL,
    worker_id BIGINT NOT NULL,
    lease_id BIGINT,
    value TEXT NOT NULL,
    consensus_key TEXT NOT NULL,
    late BIGINT NOT NULL,
    counted BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    duration_ms BIGINT,
    client_op_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX annotations_item ON annotations (task_id, item_id);
CREATE INDEX annotations_worker ON annotations (worker_id, task_id);

-- The answer given to each client op, so a replay gets the same answer (invariant 4).
CREATE TABLE ops (
    user_id BIGINT NOT NULL,
    client_op_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_op_id)
);

CREATE TABLE reviews (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL,
    reviewer_id BIGINT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL
);

-- status: in_progress | complete | canceling | canceled | failed.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    project_id BIGINT,
    user_id BIGINT,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    params TEXT NOT NULL,
    result TEXT,
    result_type TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE archives (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    task_count BIGINT NOT NULL,
    content TEXT NOT NULL
);
