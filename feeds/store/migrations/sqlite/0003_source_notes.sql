-- What the last successful read left out (skipped items) and read around (warnings), as
-- JSON arrays of lines, so /status can say it in words and not only the log.
ALTER TABLE sources ADD COLUMN skipped TEXT;
ALTER TABLE sources ADD COLUMN warnings TEXT;
