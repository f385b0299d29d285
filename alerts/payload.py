"""What subscribers receive: the alert body, its webhook signature, and the retry schedule.

The body is the one of CONTRACT.md ("Alert body"), encoded canonically (sorted keys, no blanks,
UTF-8) so the signed bytes are exactly the bytes sent. Receivers check ``X-Hazgate-Signature``
with :func:`verify_signature` and drop repeats by ``X-Hazgate-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from alerts.lifecycle import Alert, Notification

SIGNATURE_HEADER: Final = "X-Hazgate-Signature"
DELIVERY_HEADER: Final = "X-Hazgate-Delivery"
SIGNATURE_PREFIX: Final = "sha256="


def rfc3339(ts: datetime | None) -> str | None:
    """UTC with a ``Z``: the one spelling subscribers see, whatever zone the event carried."""
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Rule kinds whose subject is the vehicle's plate itself.
PLATE_SUBJECT_KINDS: Final = frozenset({"dwell", "gate_failure"})


def _plate(alert: Alert) -> str | None:
    plate = alert.details.get("plate")
    if isinstance(plate, str):
        return plate
    return alert.subject if alert.rule_kind in PLATE_SUBJECT_KINDS else None


def _zone_id(alert: Alert) -> str | None:
    zone_id = alert.details.get("zone_id")
    return zone_id if isinstance(zone_id, str) else None


def alert_body(
    alert: Alert,
    notification: Notification | None = None,
    *,
    with_history: bool = False,
    response: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The alert as JSON-ready data; ``notification`` says why it is being sent (null from the API).

    ``response``: the emergency response card (emergency/card.py) that critical notifications
    of alerts involving a substance carry; the key is left out when there is none.

    ``plate``: the vehicle's (a tracker's plate from the device registry, or the subject of a
    dwell or gate-failure alert); ``zone_id``: the layout zone of a position alert. Null otherwise.
    """
    body: dict[str, object] = {
        "alert_id": alert.id,
        "rule_id": alert.rule_id,
        "rule": alert.rule_name,
        "rule_kind": alert.rule_kind,
        "state": alert.state,
        "severity": alert.severity.value,
        "site": alert.site,
        "device_id": alert.device_id,
        "device_type": alert.device_type,
        "plate": _plate(alert),
        "zone_id": _zone_id(alert),
        "metric": alert.metric,
        "value": alert.value,
        "started_at": rfc3339(alert.started_at),
        "updated_at": rfc3339(alert.updated_at),
        "count": alert.count,
        "acknowledged_at": rfc3339(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": rfc3339(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "resolve_reason": alert.resolve_reason,
        "subject": alert.subject,
        "fingerprint": alert.fingerprint,
        "summary": alert.summary,
        "details": dict(alert.details),
        "notification": None,
    }
    if notification is not None:
        body["notification"] = {
            "kind": notification.kind,
            "tier": notification.tier,
            "sequence": notification.sequence,
            "delivery_key": notification.delivery_key,
        }
    if response is not None:
        body["response"] = dict(response)
    if with_history:
        body["history"] = [{"at": rfc3339(h.at), "who": h.who, "what": h.what, "note": h.note} for h in alert.history]
    return body


def encode_body(body: Mapping[str, object]) -> bytes:
    """Canonical JSON bytes: the exact bytes to sign and send."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body, key = the subscription secret>``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, signature: str | None) -> bool:
    """For receivers: whether ``signature`` (the header value) signs ``body``; constant-time compare."""
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(body, secret).encode(), given)


def webhook_headers(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(body, secret),
        DELIVERY_HEADER: delivery_id,
    }


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with a cap and deterministic jitter.

    The defaults retry after about 1, 2, 4, ... seconds, then every 5 minutes at most: a receiver
    down for a night is tried about a dozen times an hour, and one that comes back is reached
    within minutes. Jitter takes up to ``jitter`` of each delay off, so deliveries that failed
    together do not all retry in the same second.
    """

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.factor >= 1 and self.cap_s >= self.base_s and 0 <= self.jitter < 1):
            raise ValueError(f"invalid backoff {self}: need base_s > 0, factor >= 1, cap_s >= base_s, 0 <= jitter < 1")


DEFAULT_BACKOFF: Final = Backoff()
# factor**n beyond this would overflow a float; by then every delay is capped anyway.
_MAX_EXPONENT: Final = 64


def next_attempt_delay_s(attempt: int, delivery_id: str = "", backoff: Backoff = DEFAULT_BACKOFF) -> float:
    """Seconds to wait before the next try after ``attempt`` failed tries (1 after the first failure).

    The jitter is drawn from a hash of ``delivery_id`` and ``attempt``, so the schedule of one
    delivery is the same after a restart and different from its neighbours'.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts failed tries and starts at 1, got {attempt}")
    delay = min(backoff.cap_s, backoff.base_s * backoff.factor ** min(attempt - 1, _MAX_EXPONENT))
    digest = hashlib.sha256(f"{delivery_id}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return delay * (1.0 - backoff.jitter * fraction)
