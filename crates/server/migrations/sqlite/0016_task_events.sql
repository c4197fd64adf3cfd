-- Live task pages (`GET /events?task_id=`) ask "what changed last?" twice a second while
-- someone watches: each of these answers from the top of one task's index range.
CREATE INDEX reviews_task ON reviews (task_id, id);
CREATE INDEX leases_task ON leases (task_id, id);
CREATE INDEX jobs_project ON jobs (project_id, updated_at);
