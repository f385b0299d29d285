-- People log in to the dashboard and kiosks with a password; browsers hold a session cookie.
-- Every change a person makes is on record in person_audit.

-- scrypt, "scrypt$n$r$p$salt$hash" (api/passwords.py); NULL: this user cannot log in (API key only).
ALTER TABLE users ADD COLUMN password_hash text;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
ALTER TABLE users ADD COLUMN created_by text;

-- A browser session. The cookie carries a random token; only its SHA-256 is kept, like API keys.
-- The CSRF token is sent back by the page in a header on every state-changing request.
CREATE TABLE user_sessions (
    token_hash   text PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ip           text,
    user_agent   text
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expires ON user_sessions (expires_at);

-- Who changed what, when: every state-changing API request by a person or a key (whatever its
-- outcome), logins and logouts, user administration, and views of biometric images.
CREATE TABLE person_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    user_id    bigint,                 -- NULL: not authenticated (a failed login) or the CLI
    actor      text NOT NULL,          -- the user's name, "cli:<os user>", or the name tried
    role       text,
    via        text NOT NULL,          -- api_key, session, cli, anonymous
    action     text NOT NULL,          -- e.g. "POST /api/v1/alerts/{alert_id}/ack", login, login_failed
    object     text,                   -- the path or object id acted on
    status     integer,                -- the HTTP status answered
    ip         text,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX person_audit_at ON person_audit (at DESC);
CREATE INDEX person_audit_actor ON person_audit (actor, at DESC);
