-- Seat indexes that a label leaves alone. A label turns a 'leased' seat 'submitted', and every
-- index holding the state moved an entry (a page written to the log each, per label). Now a
-- label only drops the seat from the partial index of leased seats; the other entries never
-- change once the seat exists.
DROP INDEX seats_lease;
DROP INDEX seats_worker;
DROP INDEX seats_live;
-- Seats a worker ever held in a task (honeypot history, plans, per-assignee counts).
CREATE INDEX seats_worker ON seats (task_id, worker_id);
-- Leased seats: the expiry sweep, a worker's outstanding items, a lease's items (queries name
-- the lease's task and worker).
CREATE INDEX seats_leased ON seats (task_id, worker_id, lease_id) WHERE state = 'leased';
-- Seats waiting for their worker. SQLite uses a partial index only for queries that repeat its
-- condition as written: keep `state IN ('assigned', 'rework')` in this order.
CREATE INDEX seats_waiting ON seats (task_id, worker_id) WHERE state IN ('assigned', 'rework');
