-- Alerts (feeds/alerts.py): when the source's latest run of failures began (kept after it
-- recovers, to name the episode a recovery ends), and the mails to send, each once.
ALTER TABLE sources ADD COLUMN failing_since TIMESTAMPTZ;
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    next_try TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent TIMESTAMPTZ,
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (sent, next_try);
