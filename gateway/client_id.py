"""Each gateway process's MQTT client id: distinct without configuration, stable across restarts.

The gateway's persistent session holds what it has not acknowledged yet, so "stable" means: a
process started after another stopped or crashed resumes that session. Ids are
``{share_group}-gw-{host}-{slot}``; a process claims the lowest free slot with an exclusive
``flock`` on a per-slot file, which the kernel releases when the process ends, however it ends.
So concurrent processes on one host get different slots, a restarted one takes the slot (and
the session) its predecessor left, and processes on different hosts differ by host name.
Whichever process resumes a session, nothing is lost: every session is in the same share group
and is handled the same way.

An id set by hand (``HAZGATE_MQTT__CLIENT_ID``) is locked the same way, so a second process on
this host with the same id stops at start-up with an error instead of taking over the first's
session; across hosts the broker's takeover is detected instead (gateway/takeover.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hazgate.errors import ConfigError
from hazgate.settings import Settings

# More gateway processes than this on one host against one broker is a mistake, not a design.
MAX_SLOTS = 64
HOST_LABEL_CHARS = 40


def host_label(hostname: str | None = None) -> str:
    """The host's short name with only the characters every broker accepts in a client id."""
    name = (hostname or socket.gethostname()).split(".")[0]
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:HOST_LABEL_CHARS] or "host"


def slot_client_id(share_group: str, host: str, slot: int) -> str:
    return f"{share_group}-gw-{host}-{slot}"


def locks_dir(settings: Settings) -> Path:
    """Per user and per broker: slots only need to differ among processes sharing a broker.

    A runtime directory (XDG_RUNTIME_DIR, else the temp dir), not the state dir: a lock means
    nothing after a reboot, and processes of different installations on one host that share a
    broker must still get different slots.
    """
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"hazgate-{os.getuid()}"
    broker = re.sub(r"[^A-Za-z0-9.-]", "_", f"{settings.mqtt_host}-{settings.mqtt_port}")
    path = base / "mqtt-client-ids" / broker
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if base.stat().st_uid != os.getuid():
        raise ConfigError(f"{base} belongs to another user", hint="set XDG_RUNTIME_DIR to a directory of your own")
    return path


@dataclass
class ClientIdClaim:
    """A claimed client id; hold it while the gateway runs, release it when it stops."""

    client_id: str
    slot: int | None  # None: an id set by hand
    _fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(path.read_text().split()[0])})"
    return ""


def claim_client_id(settings: Settings, explicit: str | None = None) -> ClientIdClaim:
    """The id set by hand (``explicit``, else ``HAZGATE_MQTT__CLIENT_ID``), or the lowest free slot."""
    directory = locks_dir(settings)
    wanted = explicit or settings.mqtt.client_id
    if wanted:
        lock = directory / f"id-{hashlib.sha256(wanted.encode()).hexdigest()[:20]}.lock"
        fd = _try_lock(lock)
        if fd is None:
            raise ConfigError(
                f"the MQTT client id {wanted!r} is already used by another hazgate process on this host{_holder(lock)};"
                " two processes with one id would take the broker session from each other in turn",
                hint="unset HAZGATE_MQTT__CLIENT_ID so each process claims a distinct id, or give each its own",
            )
        return ClientIdClaim(wanted, None, fd)
    group, host = settings.mqtt.share_group, host_label()
    for slot in range(MAX_SLOTS):
        fd = _try_lock(directory / f"slot-{group}-{slot}.lock")
        if fd is not None:
            return ClientIdClaim(slot_client_id(group, host, slot), slot, fd)
    raise ConfigError(
        f"{MAX_SLOTS} gateway processes of share group {group!r} already run on this host against this broker",
        hint="stop some, or set HAZGATE_MQTT__CLIENT_ID for this one",
    )
