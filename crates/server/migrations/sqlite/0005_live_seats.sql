-- Live seats by task: the expiry sweep that runs before every claim reads only the seats leases
-- hold now, not every seat the task ever had.
CREATE INDEX seats_live ON seats (task_id, state, lease_id);
