-- Each series' next dates, written when its source is read (feeds/store/columns.py
-- `dated`): every occurrence overlapping [dated_from, dated_until). A view of many groups
-- places series by these as it places single events by their start, and expands only
-- the series that can be among what it shows (at 11,200 groups: a few dozen of 6,720).
-- Rows written before this have none; they are dated at their source's next read.
ALTER TABLE items ADD COLUMN dated_from TEXT;
ALTER TABLE items ADD COLUMN dated_until TEXT;
CREATE TABLE series_dates (
    item_id INTEGER NOT NULL REFERENCES items (id),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX series_dates_by_item ON series_dates (item_id, ends_at, starts_at);
