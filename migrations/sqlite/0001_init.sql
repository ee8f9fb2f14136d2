-- Merchants, their order book and contacts, sessions with their append-only event log,
-- and idempotency keys. States and kinds are checked here, never free text.

CREATE TABLE merchants (
    id                    TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63 AND id NOT GLOB '*[^a-z0-9_-]*' AND substr(id, 1, 1) GLOB '[a-z0-9]'),
    api_key_hash          TEXT NOT NULL UNIQUE,
    api_secret_sealed     TEXT NOT NULL,
    webhook_secret_sealed TEXT NOT NULL,
    signing_kid           TEXT NOT NULL,
    policy                TEXT NOT NULL,
    created_at            TEXT NOT NULL
);

CREATE TABLE orders (
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    order_id       TEXT NOT NULL CHECK (length(order_id) BETWEEN 1 AND 64 AND order_id NOT GLOB '*[^A-Za-z0-9_-]*' AND substr(order_id, 1, 1) GLOB '[A-Za-z0-9]'),
    user_id        TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    amount_minor   INTEGER NOT NULL CHECK (amount_minor >= 0),
    refunded_minor INTEGER NOT NULL CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    description    TEXT,
    placed_at      TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (merchant_id, order_id)
);
CREATE INDEX orders_by_user ON orders (merchant_id, user_id, placed_at);

CREATE TABLE contacts (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    contact_id  TEXT NOT NULL CHECK (length(contact_id) BETWEEN 1 AND 64 AND contact_id NOT GLOB '*[^A-Za-z0-9_-]*' AND substr(contact_id, 1, 1) GLOB '[A-Za-z0-9]'),
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    aliases     TEXT NOT NULL,
    verified    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (merchant_id, contact_id)
);
CREATE INDEX contacts_by_user ON contacts (merchant_id, user_id);

CREATE TABLE sessions (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants (id),
    user_id                 TEXT NOT NULL,
    channel                 TEXT NOT NULL CHECK (channel IN ('chat', 'menu')),
    mode                    TEXT NOT NULL CHECK (mode IN ('chat', 'menu')),
    state                   TEXT NOT NULL CHECK (state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    reason                  TEXT CHECK (reason IN ('shopper_cancelled', 'confirmation_tampered', 'confirmation_expired', 'risk_declined', 'review_declined', 'settlement_failed')),
    proposed_action         TEXT,
    confirmation_hash       TEXT,
    confirmation_expires_at TEXT,
    clarifications          INTEGER NOT NULL CHECK (clarifications >= 0),
    draft                   TEXT NOT NULL,
    frame_seq               INTEGER NOT NULL CHECK (frame_seq >= 0),
    device                  TEXT,
    client_token_hash       TEXT NOT NULL,
    version                 INTEGER NOT NULL CHECK (version >= 1),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX sessions_by_merchant ON sessions (merchant_id, created_at);
CREATE INDEX sessions_by_state ON sessions (state, confirmation_expires_at);

CREATE TABLE session_events (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    from_state TEXT CHECK (from_state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    to_state   TEXT NOT NULL CHECK (to_state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    kind       TEXT NOT NULL CHECK (kind IN ('opened', 'confirmation_issued', 'clarification_needed', 'clarification_resolved', 'proposal_refused', 'menu_fallback', 'menu_step', 'corrected', 'confirmed', 'cancelled', 'confirmation_tampered', 'confirmation_expired', 'risk_scored', 'review_approved', 'review_declined', 'settlement_succeeded', 'settlement_failed')),
    actor      TEXT NOT NULL CHECK (actor IN ('shopper', 'merchant', 'operator', 'system', 'provider')),
    payload    TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'session_events is append-only');
END;
CREATE TRIGGER session_events_no_delete BEFORE DELETE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'session_events is append-only');
END;

-- What the server said on each session's sockets, for `resume`.
CREATE TABLE session_frames (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    frame      TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- Every language-model call, for audit.
CREATE TABLE model_calls (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id        TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    model             TEXT NOT NULL,
    purpose           TEXT NOT NULL CHECK (purpose IN ('extract', 'phrase')),
    outcome           TEXT NOT NULL CHECK (outcome IN ('ok', 'invalid_output', 'rate_limited', 'server_error', 'timeout', 'transport_error', 'client_error')),
    latency_ms        INTEGER NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    request           TEXT NOT NULL,
    response          TEXT,
    at                TEXT NOT NULL
);
CREATE INDEX model_calls_by_session ON model_calls (session_id, at);

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status INTEGER,
    response_body   TEXT,
    locked_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CHECK ((state = 'completed') = (response_status IS NOT NULL AND response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
