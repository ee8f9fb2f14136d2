-- The instances sharing this database, each seen within its last heartbeat. A transition
-- announces its frames (NOTIFY) only while another instance is there to hear them: a
-- notifying commit takes a database-wide lock, so a lone instance is spared it.

CREATE TABLE instances (
    origin  TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);
