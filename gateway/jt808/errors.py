"""Every way a JT/T 808 frame can be wrong, each with the reason code it is recorded under.

Decoding raises one of these; the connection layer turns it into a row in ``rejected`` (and,
where the terminal can be answered, a 0x8001 with :attr:`Jt808Error.result`). ``header`` is
the frame's header when it could be read, so the refusal names the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hazgate.errors import HazgateError

if TYPE_CHECKING:
    from gateway.jt808.protocol import Header


class Jt808Error(HazgateError):
    """A frame or message that cannot be used. ``reason``: the code in ``rejected.reason``."""

    reason = "malformed_body"
    # 0x8001 result to answer with, or None when the frame is dropped without an answer
    # (its header cannot be trusted, so neither can the serial we would answer to).
    result: int | None = None

    def __init__(self, message: str, *, header: Header | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.header = header


class BadEscape(Jt808Error):
    reason = "bad_escape"


class BadCheckCode(Jt808Error):
    reason = "bad_check_code"


class Truncated(Jt808Error):
    """Shorter than its header, or than the body length its header declares."""

    reason = "truncated"


class BadLength(Jt808Error):
    """Longer than the body length its header declares."""

    reason = "bad_length"


class FrameTooLarge(Jt808Error):
    reason = "frame_too_large"


class Junk(Jt808Error):
    """Bytes outside any 0x7e ... 0x7e frame."""

    reason = "junk"


class BadHeader(Jt808Error):
    """A header field that cannot be (a phone that is not BCD, a sub-packet index out of range)."""

    reason = "bad_header"


class Encrypted(Jt808Error):
    reason = "encrypted"
    result = 3  # not supported


class UnknownMessage(Jt808Error):
    reason = "unknown_message"
    result = 3  # not supported


class BodyTooShort(Jt808Error):
    reason = "body_too_short"
    result = 2  # message error


class MalformedBody(Jt808Error):
    """A body of the right length whose content is wrong (an extra item running past the end)."""

    reason = "malformed_body"
    result = 2


class IncompleteMessage(Jt808Error):
    """Sub-packets of a message that never all arrived."""

    reason = "incomplete_message"
