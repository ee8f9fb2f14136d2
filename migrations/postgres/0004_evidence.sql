-- The event log as a hash chain: each event's hash covers the previous event's hash and its
-- own canonical text, and the session row keeps the last one (the chain's head), moved in
-- the same statement as the version. Sessions stored before this have no chain (NULL).
ALTER TABLE sessions ADD COLUMN event_hash TEXT CHECK (event_hash ~ '^[0-9a-f]{64}$');
ALTER TABLE session_events ADD COLUMN hash TEXT CHECK (hash ~ '^[0-9a-f]{64}$');

-- Confirmation key rotation: the key before the current one still verifies the tokens it
-- signed until they can no longer be unexpired.
ALTER TABLE merchants ADD COLUMN previous_kid TEXT;
ALTER TABLE merchants ADD COLUMN previous_kid_retires_at TIMESTAMPTZ;

-- The service's Ed25519 keys for evidence packs: the newest signs, every public half stays
-- published. The private key is sealed under the master key.
CREATE TABLE evidence_keys (
    kid             TEXT PRIMARY KEY,
    public_key      TEXT NOT NULL,
    private_sealed  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
