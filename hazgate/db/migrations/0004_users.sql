-- People and systems that use the API. Keys are random 256-bit tokens, stored as SHA-256.
CREATE TABLE users (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'officer', 'kiosk', 'subscriber')),
    api_key_hash text NOT NULL UNIQUE,
    -- A kiosk sees only its own gate.
    site         text,
    gate_id      text,
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz
);
