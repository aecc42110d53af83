-- What a network of 11,200 groups asks at every render of its views, answered from
-- indexes instead of a scan of every item (found by `make bench-scale`):
-- when the store last changed (Last-Modified of the pages that list groups),
CREATE INDEX items_by_change ON items (changed);
-- the last event of a view that ended or was taken out (its Last-Modified moves then).
CREATE INDEX items_by_end ON items (kind, ends_at) WHERE removed IS NULL;
CREATE INDEX items_removed ON items (kind, removed) WHERE removed IS NOT NULL;
