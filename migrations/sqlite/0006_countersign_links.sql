-- The link an agent's proposal hands on to the shopper: only the SHA-256 of its secret is
-- kept. It opens one session's countersign page, nothing else, until it expires.
CREATE TABLE countersign_links (
    session_id  TEXT PRIMARY KEY REFERENCES sessions (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
-- The cap on a shopper's open proposals counts these.
CREATE INDEX countersign_links_by_shopper ON countersign_links (merchant_id, user_id);
