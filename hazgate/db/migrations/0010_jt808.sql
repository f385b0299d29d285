-- JT/T 808 vehicle terminals (docs/jt808.md): which phone is which device, and its auth code.
-- Everything a listener needs to accept a terminal lives here, so several listeners behind a
-- TCP load balancer accept the same terminals.
CREATE TABLE jt808_terminals (
    -- The terminal phone without the BCD's leading zeros: 2013 terminals send it as BCD[6],
    -- 2019 ones as BCD[10]; both forms of one number are the same terminal.
    phone            text PRIMARY KEY CHECK (phone ~ '^[1-9][0-9]{0,19}$'),
    device_id        text NOT NULL UNIQUE REFERENCES devices (device_id) ON DELETE CASCADE,
    -- Sent to the terminal in the 0x8100 answer and checked at 0x0102; the protocol sends it
    -- back in the clear, so it is kept in the clear (it only admits location reports).
    auth_code        text NOT NULL CHECK (length(auth_code) BETWEEN 8 AND 64),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- From the last successful registration (0x0100) and authentication (0x0102).
    registered_at    timestamptz,
    protocol         integer CHECK (protocol IN (2013, 2019)),
    manufacturer     text,
    model            text,
    terminal_id      text,
    reported_plate   text,
    authenticated_at timestamptz,
    logged_out_at    timestamptz
);
