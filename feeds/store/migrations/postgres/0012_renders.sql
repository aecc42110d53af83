-- Renders shared by every process and instance (feeds/web/shared.py): a view is rendered
-- once per store revision, by whoever claims it first; the others take its bytes.
-- One row per view (`key`, a digest of what was asked and the configuration).
CREATE TABLE renders (
    key TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ,
    fresh_until DOUBLE PRECISION,  -- POSIX seconds: views that move with the clock
    made BIGINT NOT NULL DEFAULT 0,  -- renders of this view, ever: what sharing saves
    meta TEXT,
    body BYTEA,
    br BYTEA,
    gzip BYTEA
);
