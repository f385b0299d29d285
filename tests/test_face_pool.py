"""Face workers never outlive the process that started them, even when it is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.mqtt_client import forget_session
from tests.fixtures.mqtt import wait_until
from tests.fixtures.processes import GatewayProcess

REPO = Path(__file__).resolve().parents[1]
# Long enough for a loaded machine; a worker that follows its parent goes within a second.
GONE_WITHIN_S = 10.0

# A process that starts a face pool, says which processes it made, then waits to be killed.
POOL_OWNER = """
import os, sys, time
from multiprocessing import resource_tracker
from gateway.face_pool import face_pool

pool = face_pool(2)
pool.submit(os.getpid).result(timeout=120)
print(os.getpid(), *sorted(pool._processes), resource_tracker._resource_tracker._pid, flush=True)
time.sleep(600)
"""


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name in parentheses may contain spaces; the ppid is the 2nd field after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def three_or_more(pids: set[int]) -> set[int] | None:
    return pids if len(pids) >= 3 else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has exited; only its parent's wait is missing


def all_gone(pids: set[int]) -> bool:
    return not any(alive(pid) for pid in pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")
def test_face_workers_and_the_resource_tracker_end_when_their_owner_is_killed() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", POOL_OWNER], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        pid, *helpers = (int(v) for v in line.split())
        assert pid == owner.pid and len(helpers) == 3, line  # two workers and the resource tracker
        assert all(alive(p) for p in helpers)
        owner.send_signal(signal.SIGKILL)  # no shutdown, no atexit: what a crash or the OOM killer does
        owner.wait(10)
        wait_until(lambda: all_gone(set(helpers)), GONE_WITHIN_S)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
        if owner.stdout is not None:
            owner.stdout.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")
def test_a_gateway_killed_with_sigkill_leaves_no_face_worker_behind(settings, tmp_path: Path) -> None:
    client_id = f"gw-orphans-{os.getpid()}"
    gw = GatewayProcess(
        settings, tmp_path, HAZGATE_MQTT__CLIENT_ID=client_id, HAZGATE_MQTT__SHARE_GROUP=f"orphans{os.getpid()}"
    )
    try:
        # Two face workers and the resource tracker start with the gate pipeline.
        helpers = wait_until(lambda: three_or_more(children_of(gw.proc.pid)), 60)
        time.sleep(0.5)
        gw.kill()
        wait_until(lambda: all_gone(helpers), GONE_WITHIN_S)
    finally:
        if gw.proc.poll() is None:
            gw.kill()
        forget_session(settings, client_id)
