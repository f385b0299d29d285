"""A webhook receiver on a loopback port: checks signatures, records deliveries, can be made to fail.

For the alerts benchmark and the story tests: it plays the on-call system at the other end of a
webhook subscription, with ``X-Hazgate-Signature`` verified as a real receiver would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.payload import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature


@dataclass(frozen=True, slots=True)
class Delivery:
    received_at: float  # time.time()
    delivery_id: str
    signature_ok: bool
    body: dict[str, Any]
    answered: int  # the status we answered with
    host: str | None = None  # the Host header

    @property
    def alert_id(self) -> str:
        return str(self.body.get("alert_id"))

    @property
    def kind(self) -> str | None:
        note = self.body.get("notification") or {}
        return note.get("kind") if isinstance(note, dict) else None


class WebhookReceiver:
    """``with WebhookReceiver(secret) as r:`` then subscribe ``r.url``; ``r.fail_with(500)`` to refuse."""

    def __init__(self, secret: str, path: str = "/hook") -> None:
        self.secret = secret
        self.path = path
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._fail_status: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = self.headers
                receiver._record(
                    raw, headers.get(SIGNATURE_HEADER), headers.get(DELIVERY_HEADER) or "", headers.get("Host")
                )
                status = receiver._status()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return  # quiet: the bench prints its own figures

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_with(self, status: int | None) -> None:
        """Answer every request with ``status`` (e.g. 500) from now on; None: accept again (204)."""
        with self._lock:
            self._fail_status = status

    def _status(self) -> int:
        with self._lock:
            return self._fail_status or 204

    def _record(self, raw: bytes, signature: str | None, delivery_id: str, host: str | None) -> None:
        now = time.time()
        ok = verify_signature(raw, self.secret, signature)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw[:200].decode(errors="replace")}
        with self._lock:
            self._deliveries.append(Delivery(now, delivery_id, ok, body, self._fail_status or 204, host))

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request received, refused ones included, in arrival order."""
        with self._lock:
            return list(self._deliveries)

    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.answered < 300]
