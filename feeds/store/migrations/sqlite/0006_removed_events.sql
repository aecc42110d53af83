-- Events an upstream stopped listing (feeds/store/presence.py): how many complete reads in
-- a row missed each, and when it was removed from what is served (NULL: it is shown).
ALTER TABLE items ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN removed TEXT;
