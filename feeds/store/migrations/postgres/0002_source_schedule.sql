-- What /status shows of a source beyond its last result: when it runs next, whether it
-- is gone (410), where it moved (permanent redirect), how many items upstream gave last.
ALTER TABLE sources ADD COLUMN next_run TIMESTAMPTZ;
ALTER TABLE sources ADD COLUMN gone BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sources ADD COLUMN moved_to TEXT;
ALTER TABLE sources ADD COLUMN upstream_items INTEGER;
