-- Columns and indexes so filters run in the database (feeds/store/query.py); the values
-- come from feeds/store/columns.py, filled in for older rows right after this step. The
-- trigram index for `search` is made after it too, where pg_trgm can be had.
ALTER TABLE items
    ADD COLUMN uuid TEXT,
    ADD COLUMN series TEXT,
    ADD COLUMN ends_at TIMESTAMPTZ,
    ADD COLUMN recurring BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN search TEXT NOT NULL DEFAULT '',
    ADD COLUMN categories TEXT[] NOT NULL DEFAULT '{}';
CREATE INDEX items_by_uuid ON items (uuid);
CREATE INDEX items_by_series ON items (series);
CREATE INDEX items_by_category ON items USING GIN (categories);
