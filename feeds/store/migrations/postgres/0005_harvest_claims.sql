-- Several harvesters, one truth: a source is claimed before it is harvested (the claim
-- lapses at claimed_until if its harvester dies), and every harvest is recorded.
ALTER TABLE sources ADD COLUMN claimed_by TEXT;
ALTER TABLE sources ADD COLUMN claimed_until TIMESTAMPTZ;
CREATE TABLE harvests (
    id BIGSERIAL PRIMARY KEY,
    site TEXT NOT NULL,
    source TEXT NOT NULL,
    worker TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL,
    finished TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL,
    new INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX harvests_by_source ON harvests (site, source, started);
CREATE INDEX harvests_by_time ON harvests (finished);
