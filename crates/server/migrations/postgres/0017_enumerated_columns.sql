-- Enumerated columns hold only their enum's values (the server decodes them with `as_str`/
-- `parse`, failing loudly on anything else; these make the database refuse such a write).

-- Roles were a comma-separated list in any order: rewrite each in the one stored form
-- (manager, annotator, reviewer order; unknown names dropped) so a role test is an exact
-- comparison, not a LIKE.
UPDATE members SET roles = btrim(
    CASE WHEN ',' || roles || ',' LIKE '%,manager,%' THEN 'manager,' ELSE '' END
    || CASE WHEN ',' || roles || ',' LIKE '%,annotator,%' THEN 'annotator,' ELSE '' END
    || CASE WHEN ',' || roles || ',' LIKE '%,reviewer,%' THEN 'reviewer,' ELSE '' END,
    ',');
ALTER TABLE members ADD CONSTRAINT members_roles_known CHECK (roles IN ('', 'manager',
    'annotator', 'reviewer', 'manager,annotator', 'manager,reviewer', 'annotator,reviewer',
    'manager,annotator,reviewer'));
ALTER TABLE seats ADD CONSTRAINT seats_state_known CHECK (state IN ('assigned', 'leased',
    'rework', 'submitted', 'skipped', 'released', 'expired'));
ALTER TABLE task_items ADD CONSTRAINT task_items_state_known CHECK (state IN ('pending',
    'auto_approved', 'needs_review', 'approved', 'rejected'));
ALTER TABLE tasks ADD CONSTRAINT tasks_status_known CHECK (status IN ('open', 'in_progress',
    'completed', 'archived'));
ALTER TABLE task_people ADD CONSTRAINT task_people_role_known CHECK (role IN ('annotator',
    'reviewer'));
ALTER TABLE reviews ADD CONSTRAINT reviews_decision_known CHECK (decision IN ('approve',
    'reject'));
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known CHECK (status IN ('in_progress', 'complete',
    'canceling', 'canceled', 'failed'));
