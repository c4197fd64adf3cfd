-- Model predictions imported into a task. accepted = 1 when the task's auto-accept range took it
-- as an annotation by the model's worker (a user named "model:<name>" with no token).
CREATE TABLE predictions (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL,
    model TEXT NOT NULL,
    value TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    accepted BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (task_id, item_id, model)
);
