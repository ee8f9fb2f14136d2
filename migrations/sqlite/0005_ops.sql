-- A shopper may withdraw consent while the payment is held (risk check, review): the
-- session ends `cancelled` with reason `withdrawn`. SQLite cannot change a CHECK, so the
-- table is built again: its rows are set aside, the table dropped and created with the
-- wider CHECK, and the rows put back. The migration runs in one transaction; the foreign
-- keys of events, frames and submissions are checked at its commit, when every session
-- they name is back.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE sessions_before_0005 AS SELECT * FROM sessions;
DROP TABLE sessions;
CREATE TABLE sessions (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants (id),
    user_id                 TEXT NOT NULL,
    channel                 TEXT NOT NULL CHECK (channel IN ('chat', 'menu')),
    mode                    TEXT NOT NULL CHECK (mode IN ('chat', 'menu')),
    state                   TEXT NOT NULL CHECK (state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    reason                  TEXT CHECK (reason IN ('shopper_cancelled', 'confirmation_tampered', 'confirmation_expired', 'risk_declined', 'review_declined', 'settlement_failed', 'withdrawn')),
    proposed_action         TEXT,
    confirmation_hash       TEXT,
    confirmation_expires_at TEXT,
    consented_at            TEXT,
    clarifications          INTEGER NOT NULL CHECK (clarifications >= 0),
    draft                   TEXT NOT NULL,
    frame_seq               INTEGER NOT NULL CHECK (frame_seq >= 0),
    device                  TEXT,
    client_token_hash       TEXT NOT NULL,
    version                 INTEGER NOT NULL CHECK (version >= 1),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    -- From 0004: the head of the session's event hash chain.
    event_hash              TEXT CHECK (length(event_hash) = 64 AND event_hash NOT GLOB '*[^0-9a-f]*')
);
INSERT INTO sessions SELECT * FROM sessions_before_0005;
DROP TABLE sessions_before_0005;
CREATE INDEX sessions_by_merchant ON sessions (merchant_id, created_at);
CREATE INDEX sessions_by_state ON sessions (state, confirmation_expires_at);
CREATE INDEX sessions_by_shopper ON sessions (merchant_id, user_id, consented_at);
CREATE INDEX sessions_by_consent ON sessions (merchant_id, consented_at);

-- What the model reported beside what was asked for, and what the call cost: an exact
-- decimal in the currency's major unit (never a float), priced from the endpoint's
-- configured prices when the call was made; NULL when the endpoint has no prices.
ALTER TABLE model_calls ADD COLUMN reported_model TEXT;
ALTER TABLE model_calls ADD COLUMN system_fingerprint TEXT;
ALTER TABLE model_calls ADD COLUMN cost TEXT
    CHECK (length(cost) BETWEEN 1 AND 33 AND cost NOT GLOB '*[^0-9.]*');
ALTER TABLE model_calls ADD COLUMN cost_currency TEXT
    CHECK (length(cost_currency) = 3 AND cost_currency NOT GLOB '*[^A-Z]*');
