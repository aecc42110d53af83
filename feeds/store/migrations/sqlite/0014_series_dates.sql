-- Each series' next dates, written when its source is read (feeds/store/columns.py
-- `dated`): every occurrence overlapping [dated_from, dated_until). A view asking for the
-- next events of many groups takes the series with a date before its cut as it takes
-- single events by their start, and expands only those (feeds/store/query.py).
-- Rows written before this have none; they are dated at their source's next read.
ALTER TABLE items ADD COLUMN dated_from TEXT;
ALTER TABLE items ADD COLUMN dated_until TEXT;
CREATE TABLE series_dates (
    item_id INTEGER NOT NULL REFERENCES items (id),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX series_dates_by_item ON series_dates (item_id);
CREATE INDEX series_dates_by_start ON series_dates (starts_at, ends_at);
-- The series among a network's events (a few thousand of hundreds of thousands).
CREATE INDEX items_series ON items (kind, sort_at) WHERE recurring AND removed IS NULL;
