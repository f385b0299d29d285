"""Small process and port helpers shared by the service managers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from hazgate.errors import ServiceError


def port_open(host: str, port: int, timeout_s: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout_s):
        return True
    return False


def wait_for_port(host: str, port: int, timeout_s: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise ServiceError(
        f"{what} did not accept connections on {host}:{port} within {timeout_s:.0f} s",
        hint=f"see its log {log}:\n{tail}" if log else None,
    )


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, timeout_s: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def is_root() -> bool:
    return os.geteuid() == 0


def run(cmd: list[str], *, what: str, hint: str | None = None, **kw: object) -> str:
    """Run a command; on failure raise a ServiceError carrying its output."""
    try:
        done = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            **kw,  # type: ignore[call-overload]
        )
    except FileNotFoundError as exc:
        raise ServiceError(f"{what}: {cmd[0]} not found", hint=hint) from exc
    if done.returncode != 0:
        out = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise ServiceError(f"{what} failed (exit {done.returncode}):\n" + "\n".join(out), hint=hint)
    return str(done.stdout)


def apt_install(packages: list[str], *, what: str) -> None:
    """Install Debian packages, as root; otherwise say which command the user must run."""
    if not is_root():
        raise ServiceError(
            f"{what} needs the packages {' '.join(packages)}, which are not installed",
            hint=f"run: sudo apt-get install -y {' '.join(packages)}  (or run this command as root)",
        )
    if shutil.which("apt-get") is None:
        raise ServiceError(
            f"{what} needs {' '.join(packages)} and this system has no apt-get",
            hint="install them with your system's package manager",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], what="apt-get update", env=env)
    run(["apt-get", "install", "-y", "-q", *packages], what=f"installing {packages}", env=env)


def check_free_disk(path: Path, need_mb: int, what: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    if free_mb < need_mb:
        raise ServiceError(
            f"{what} needs about {need_mb} MB free in {path}; only {free_mb} MB are free",
            hint="free some disk space or point HAZGATE_SERVICES__CACHE_DIR elsewhere",
        )


def ensure_port_free(host: str, port: int, what: str, setting: str) -> None:
    if port_open(host, port):
        raise ServiceError(
            f"port {host}:{port} for {what} is taken by another program",
            hint=f"stop that program, or choose another port with {setting}=<port>",
        )
