-- Merchants, their order book and contacts, sessions with their append-only event log,
-- and idempotency keys. States and kinds are checked here, never free text.

CREATE TABLE merchants (
    id                    TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    api_key_hash          TEXT NOT NULL UNIQUE,
    api_secret_sealed     TEXT NOT NULL,
    webhook_secret_sealed TEXT NOT NULL,
    signing_kid           TEXT NOT NULL,
    policy                JSONB NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    order_id       TEXT NOT NULL CHECK (order_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    user_id        TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor   BIGINT NOT NULL CHECK (amount_minor >= 0),
    refunded_minor BIGINT NOT NULL CHECK (refunded_minor >= 0),
    -- Refunds submitted to the provider and not yet settled or failed.
    reserved_minor BIGINT NOT NULL DEFAULT 0 CHECK (reserved_minor >= 0),
    description    TEXT,
    placed_at      TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, order_id),
    CHECK (refunded_minor + reserved_minor <= amount_minor)
);
CREATE INDEX orders_by_user ON orders (merchant_id, user_id, placed_at);

CREATE TABLE contacts (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    contact_id  TEXT NOT NULL CHECK (contact_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    aliases     JSONB NOT NULL,
    verified    BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
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
    proposed_action         JSONB,
    confirmation_hash       TEXT,
    confirmation_expires_at TIMESTAMPTZ,
    consented_at            TIMESTAMPTZ,
    clarifications          INTEGER NOT NULL CHECK (clarifications >= 0),
    draft                   JSONB NOT NULL,
    frame_seq               BIGINT NOT NULL CHECK (frame_seq >= 0),
    device                  TEXT,
    client_token_hash       TEXT NOT NULL,
    version                 BIGINT NOT NULL CHECK (version >= 1),
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_merchant ON sessions (merchant_id, created_at);
CREATE INDEX sessions_by_state ON sessions (state, confirmation_expires_at);
-- Risk velocity counts recent consents per shopper and per merchant.
CREATE INDEX sessions_by_shopper ON sessions (merchant_id, user_id, consented_at);
CREATE INDEX sessions_by_consent ON sessions (merchant_id, consented_at);

CREATE TABLE session_events (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        BIGINT NOT NULL CHECK (seq >= 1),
    from_state TEXT CHECK (from_state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    to_state   TEXT NOT NULL CHECK (to_state IN ('collecting', 'clarifying', 'awaiting_confirmation', 'pending_risk_check', 'manual_review', 'submitted', 'settled', 'failed', 'declined', 'cancelled', 'expired')),
    kind       TEXT NOT NULL CHECK (kind IN ('opened', 'confirmation_issued', 'clarification_needed', 'clarification_resolved', 'proposal_refused', 'menu_fallback', 'menu_step', 'corrected', 'confirmed', 'cancelled', 'confirmation_tampered', 'confirmation_expired', 'risk_scored', 'review_approved', 'review_declined', 'settlement_succeeded', 'settlement_failed')),
    actor      TEXT NOT NULL CHECK (actor IN ('shopper', 'merchant', 'operator', 'system', 'provider')),
    payload    JSONB NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE FUNCTION session_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'session_events is append-only';
END
$$;
CREATE TRIGGER session_events_no_change BEFORE UPDATE OR DELETE ON session_events
    FOR EACH ROW EXECUTE FUNCTION session_events_append_only();

-- What the server said on each session's sockets, for `resume`.
CREATE TABLE session_frames (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        BIGINT NOT NULL CHECK (seq >= 1),
    frame      JSONB NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- Every language-model call, for audit.
CREATE TABLE model_calls (
    id                BIGSERIAL PRIMARY KEY,
    session_id        TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    model             TEXT NOT NULL,
    purpose           TEXT NOT NULL CHECK (purpose IN ('extract', 'phrase')),
    outcome           TEXT NOT NULL CHECK (outcome IN ('ok', 'invalid_output', 'rate_limited', 'server_error', 'timeout', 'transport_error', 'client_error')),
    latency_ms        BIGINT NOT NULL,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    request           JSONB NOT NULL,
    response          TEXT,
    at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX model_calls_by_session ON model_calls (session_id, at);

-- The outbox: at most one money movement per session, written in the same transaction as
-- the session's move to `submitted`, delivered by the dispatcher.
CREATE TABLE submissions (
    idempotency_key    TEXT PRIMARY KEY,
    session_id         TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    merchant_id        TEXT NOT NULL REFERENCES merchants (id),
    provider           TEXT NOT NULL,
    action             JSONB NOT NULL,
    currency           TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    state              TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'done', 'dead')),
    attempts           INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at    TIMESTAMPTZ NOT NULL,
    locked_until       TIMESTAMPTZ,
    provider_reference TEXT,
    last_error         TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX submissions_due ON submissions (state, next_attempt_at);

-- Every verified settlement notification, keyed by the provider's event id.
CREATE TABLE webhook_inbox (
    merchant_id        TEXT NOT NULL,
    event_id           TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('settlement.succeeded', 'settlement.failed')),
    idempotency_key    TEXT NOT NULL,
    outcome            TEXT NOT NULL CHECK (outcome IN ('applied', 'orphan', 'ignored', 'mismatch')),
    payload            JSONB NOT NULL,
    received_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, event_id)
);

-- The built-in sandbox provider's own books: what it accepted and the webhooks it owes.
CREATE TABLE sandbox_payments (
    idempotency_key TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    reference       TEXT NOT NULL UNIQUE,
    currency        TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL,
    succeeds        BOOLEAN NOT NULL,
    requests        INTEGER NOT NULL CHECK (requests >= 1),
    deliver_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sandbox_payments_due ON sandbox_payments (delivered_at, deliver_at);

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status INTEGER,
    response_body   TEXT,
    locked_at       TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CHECK ((state = 'completed') = (response_status IS NOT NULL AND response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
