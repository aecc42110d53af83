-- The fediverse (feeds/federation/): every group, and the network, is an ActivityPub
-- actor that people on Mastodon and its kin follow.
-- Each actor's key pair, made once (RSA 2048, PEM); the private key never leaves here
-- but to sign.
CREATE TABLE actors (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL
);
-- Who follows which actor, and where they take deliveries.
CREATE TABLE followers (
    actor TEXT NOT NULL,
    follower TEXT NOT NULL,
    inbox TEXT NOT NULL,
    shared_inbox TEXT,
    follow TEXT,
    since TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (actor, follower)
);
CREATE INDEX followers_by_inbox ON followers (inbox);
-- Activities to deliver, each to each inbox once, signed afresh at every try.
CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    inbox TEXT NOT NULL,
    activity TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL,
    next_try TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_failure TIMESTAMPTZ,
    last_error TEXT,
    done TIMESTAMPTZ,
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX deliveries_due ON deliveries (done, next_try);
-- What followers were last told of each item: created (with the digest of the object
-- sent), or deleted.
CREATE TABLE federated (
    uuid TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    digest TEXT NOT NULL,
    deleted TIMESTAMPTZ
);
-- Up to which store revision items were planned for followers; -1: not yet (the first
-- plan starts at the revision of its day, and tells followers only what comes after).
INSERT INTO meta (key, value) VALUES ('federated_revision', -1);
CREATE INDEX items_by_revision ON items (revision);  -- what changed since a plan
