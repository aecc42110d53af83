-- Items keep their upstream content as JSON (feeds.codec) beside the columns we query by.
CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('post', 'event')),
    site TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    data JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    sort_at TIMESTAMPTZ NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    changed TIMESTAMPTZ NOT NULL,
    revision BIGINT NOT NULL,
    sequence INTEGER NOT NULL DEFAULT 0,
    UNIQUE (site, source, kind, external_id)
);
CREATE INDEX items_by_kind_time ON items (kind, sort_at);
CREATE INDEX items_by_site ON items (site, kind, sort_at);

CREATE TABLE sources (
    site TEXT NOT NULL,
    source TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_attempt TIMESTAMPTZ,
    last_success TIMESTAMPTZ,
    last_error TEXT,
    last_status INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, source)
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', 0);
