-- Photos without tracking (feeds/images.py): each upstream image is fetched once, and
-- kept as resized copies the pages load from the service itself.
-- One row per upstream address: its copies' digest and widths, or why it was refused.
CREATE TABLE images (
    url TEXT PRIMARY KEY,
    digest TEXT,
    widths TEXT,
    width INTEGER,
    height INTEGER,
    error TEXT,
    fetched TEXT NOT NULL
);
-- The copies, content-addressed ("{digest}-{width}.webp"): several instances share them.
CREATE TABLE image_files (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
