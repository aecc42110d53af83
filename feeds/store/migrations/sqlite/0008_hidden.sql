-- Moderation (feeds/store/moderation.py): items the network office took out of every
-- output. Keyed by the item's stable public id, so a hidden item stays hidden when its
-- source lists it again, and even after the store let its row go and it came back.
CREATE TABLE hidden (
    uuid TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    series TEXT,
    title TEXT NOT NULL,
    url TEXT,
    reason TEXT,
    since TEXT NOT NULL,
    shown TEXT
);
