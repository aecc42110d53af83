-- Columns and indexes so filters run in the database (feeds/store/query.py); the values
-- come from feeds/store/columns.py, filled in for older rows right after this step.
ALTER TABLE items ADD COLUMN uuid TEXT;
ALTER TABLE items ADD COLUMN series TEXT;
ALTER TABLE items ADD COLUMN ends_at TEXT;
ALTER TABLE items ADD COLUMN recurring INTEGER NOT NULL DEFAULT 0;
CREATE INDEX items_by_uuid ON items (uuid);
CREATE INDEX items_by_series ON items (series);
CREATE TABLE item_categories (
    category TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items (id),
    PRIMARY KEY (category, item_id)
) WITHOUT ROWID;
CREATE INDEX item_categories_by_item ON item_categories (item_id);
-- Trigrams find any substring of three characters or more, as `q` always has (German
-- compounds: "fest" finds "Sommerfest"); the text is folded already, so case counts here.
CREATE VIRTUAL TABLE item_search USING fts5 (search, tokenize = 'trigram case_sensitive 1');
