-- Items keep their upstream content as JSON (feeds.codec) beside the columns we query by.
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('post', 'event')),
    site TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    sort_at TEXT NOT NULL,          -- UTC ISO: published (posts) or start (events)
    first_seen TEXT NOT NULL,
    changed TEXT NOT NULL,
    revision INTEGER NOT NULL,
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
    last_attempt TEXT,
    last_success TEXT,
    last_error TEXT,
    last_status INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, source)
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', 0);
