-- What an outbox entry goes by: a mail (recipients are addresses) or a webhook POST of
-- JSON (the one recipient is the URL), queued and sent once alike (feeds/alerts.py).
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'mail';
