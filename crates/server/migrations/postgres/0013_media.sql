-- Media files Quorum stores itself (uploaded images and videos). The bytes live in the media
-- store under their SHA-256, once; a row says that a project holds that file, so who may read
-- it is decided per project. Items made from a file point at their row.
CREATE TABLE media (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    mime TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX media_project_sha ON media (project_id, sha256);
CREATE INDEX media_sha ON media (sha256);
ALTER TABLE items ADD COLUMN media_id BIGINT REFERENCES media(id);
CREATE INDEX items_media ON items (media_id) WHERE media_id IS NOT NULL;
-- A sampled frame of a video item is an item of its own (so leases, overlap, review and
-- consensus apply per frame), made once per video and time and shared by every task that
-- samples that time. Frames are not dataset items: inputs and listings leave them out.
ALTER TABLE items ADD COLUMN video_item_id BIGINT REFERENCES items(id) ON DELETE CASCADE;
ALTER TABLE items ADD COLUMN time_ms BIGINT;
CREATE UNIQUE INDEX items_frames ON items (video_item_id, time_ms) WHERE video_item_id IS NOT NULL;
