-- Alerts (feeds/alerts.py): when the source's latest run of failures began (kept after it
-- recovers, to name the episode a recovery ends), and the mails to send, each once.
ALTER TABLE sources ADD COLUMN failing_since TEXT;
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL,
    next_try TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent TEXT,
    claimed_by TEXT,
    claimed_until TEXT
);
CREATE INDEX outbox_due ON outbox (sent, next_try);
