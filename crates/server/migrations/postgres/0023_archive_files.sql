-- An archive's text kept as a file in the media store, named by its SHA-256, written after its
-- tasks are closed rather than inside that transaction: a million-item task's archive is
-- gigabytes of JSON, built whole in memory, over a row field's 1 GB limit, and on SQLite it held
-- the one write lock for the whole build. `content` keeps the whole archive for archives made
-- before this; for later ones it holds the tasks' heads (id, status, spec, creation time), from
-- which the file is written. `writing` is 1 until the file is there.
ALTER TABLE archives ADD COLUMN file_sha TEXT;
ALTER TABLE archives ADD COLUMN writing BIGINT NOT NULL DEFAULT 0;
