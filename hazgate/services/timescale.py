"""The project's own PostgreSQL + TimescaleDB on loopback.

Where the system has a ``postgresql-NN-timescaledb`` package (Debian 13, or already
installed) we use it. Debian 12 has none, so we build a minimal Debian 13 root once into the
cache directory (``debootstrap``) and run that root's PostgreSQL under ``chroot``: it listens
on the loopback interface like any other server, and the root is shared by every instance.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hazgate.errors import ServiceError
from hazgate.services import proc

HOST = "127.0.0.1"
ROOT_SUITE = "trixie"
ROOT_PG_MAJOR = 17
READY_MARKER = ".hazgate-ready"
# debootstrap minbase + PostgreSQL + TimescaleDB measured at ~450 MB; ask for headroom.
ROOT_DISK_MB = 1500
CONF_NAME = "hazgate.conf"


@dataclass(frozen=True)
class DbStatus:
    url: str
    up: bool
    timescaledb: str | None
    edition: str | None


@dataclass(frozen=True)
class Runtime:
    """How to run one PostgreSQL installation: command prefix and where data lives."""

    bin_dir: str  # as seen by the server process
    prefix: tuple[str, ...]  # chroot/runuser wrapper, empty when we run it ourselves
    data_dir_inner: str  # data directory as the server sees it
    data_dir_host: Path  # the same directory as we see it
    owner: str | None  # user that must own the data directory (None: ourselves)

    def cmd(self, tool: str, *args: str) -> list[str]:
        return [*self.prefix, f"{self.bin_dir}/{tool}", *args]


def _instance_id(state_dir: Path) -> str:
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def _system_pg_with_timescale() -> str | None:
    """The bin dir of the newest system PostgreSQL that has TimescaleDB installed."""
    majors = sorted(
        (int(p.parent.parent.name) for p in Path("/usr/lib/postgresql").glob("*/lib/timescaledb.so")),
        reverse=True,
    )
    return f"/usr/lib/postgresql/{majors[0]}/bin" if majors else None


def _apt_timescale_candidate() -> str | None:
    if shutil.which("apt-cache") is None:
        return None
    done = subprocess.run(
        ["apt-cache", "search", "--names-only", r"^postgresql-[0-9]+-timescaledb$"],
        capture_output=True,
        text=True,
        check=False,
    )
    names = re.findall(r"^(postgresql-(\d+)-timescaledb)\s", done.stdout, re.M)
    if not names:
        return None
    best: str = max(names, key=lambda n: int(n[1]))[0]
    return best


def _apt_mirror() -> str:
    """The Debian mirror this system already uses, so nothing else is contacted."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian") and "security" not in uri:
                return uri
    raise ServiceError(
        "cannot find a Debian mirror in /etc/apt/sources.list*",
        hint="install postgresql-NN-timescaledb yourself, or add a Debian mirror to apt's sources",
    )


class Timescale:
    def __init__(self, state_dir: Path, cache_dir: Path, port: int, start_timeout_s: float = 60.0) -> None:
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.root = cache_dir / f"debian-{ROOT_SUITE}-root"

    # -- installation ---------------------------------------------------------------------
    def runtime(self, *, install: bool) -> Runtime:
        bin_dir = _system_pg_with_timescale()
        if bin_dir is None and install and (pkg := _apt_timescale_candidate()):
            proc.apt_install([pkg], what="TimescaleDB")
            bin_dir = _system_pg_with_timescale()
        if bin_dir is not None:
            return self._system_runtime(bin_dir)
        if not (self.root / READY_MARKER).exists():
            if not install:
                raise ServiceError("TimescaleDB is not installed", hint="run `hazgate services up`")
            self._build_root()
        inner = f"/var/lib/hazgate/pg-{_instance_id(self.state_dir)}"
        return Runtime(
            bin_dir=f"/usr/lib/postgresql/{ROOT_PG_MAJOR}/bin",
            prefix=("chroot", "--userspec=postgres:postgres", str(self.root)),
            data_dir_inner=inner,
            data_dir_host=self.root / inner.lstrip("/"),
            owner="postgres",
        )

    def _system_runtime(self, bin_dir: str) -> Runtime:
        if proc.is_root():
            # PostgreSQL refuses to run as root; run it as the package's postgres user, with
            # data where that user can reach it (root's home is closed to it).
            data = Path(f"/var/lib/hazgate/pg-{_instance_id(self.state_dir)}")
            return Runtime(bin_dir, ("runuser", "-u", "postgres", "--"), str(data), data, "postgres")
        data = self.state_dir / "pgdata"
        return Runtime(bin_dir, (), str(data), data, None)

    def _build_root(self) -> None:
        if not proc.is_root():
            raise ServiceError(
                "this system has no TimescaleDB package; hazgate would build a Debian 13 root for it, which needs root",
                hint="run `sudo hazgate services up` once, or install postgresql-NN-timescaledb",
            )
        if shutil.which("debootstrap") is None:
            proc.apt_install(["debootstrap"], what="building the TimescaleDB root")
        proc.check_free_disk(self.cache_dir, ROOT_DISK_MB, "the TimescaleDB root")
        building = self.root.with_name(self.root.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        print(f"[services] building a Debian {ROOT_SUITE} root in {self.root} (about a minute, once)")  # noqa: T201
        proc.run(
            ["debootstrap", "--variant=minbase", ROOT_SUITE, str(building), _apt_mirror()],
            what="debootstrap",
            hint="check network access to the Debian mirror and free disk space",
        )
        print("[services] installing PostgreSQL + TimescaleDB into it")  # noqa: T201
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        pkg = f"postgresql-{ROOT_PG_MAJOR}-timescaledb"
        for cmd in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg],
        ):
            proc.run(["chroot", str(building), *cmd], what=" ".join(cmd), env=env)
        (building / READY_MARKER).write_text(pkg + "\n")
        shutil.rmtree(self.root, ignore_errors=True)
        building.rename(self.root)

    # -- lifecycle ------------------------------------------------------------------------
    def _chown(self, rt: Runtime, path: Path) -> None:
        if rt.owner is not None:
            owner = rt.owner
            if rt.prefix and rt.prefix[0] == "chroot":
                proc.run(
                    [
                        "chroot",
                        str(self.root),
                        "chown",
                        "-R",
                        f"{owner}:{owner}",
                        "/" + str(path.relative_to(self.root)),
                    ],
                    what="chown",
                )
            else:
                shutil.chown(path, owner, owner)

    def _init_cluster(self, rt: Runtime, superuser_password: str) -> None:
        data = rt.data_dir_host
        data.parent.mkdir(parents=True, exist_ok=True)
        self._chown(rt, data.parent)
        pwfile = data.parent / f".pw-{os.getpid()}"
        pwfile.write_text(superuser_password + "\n")
        self._chown(rt, pwfile)
        inner_pw = str(Path(rt.data_dir_inner).parent / pwfile.name)
        try:
            proc.run(
                rt.cmd(
                    "initdb",
                    "-D",
                    rt.data_dir_inner,
                    "-U",
                    "postgres",
                    "--pwfile",
                    inner_pw,
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ),
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = data / "postgresql.conf"
        # Append as the data dir's owner would: the file is ours to edit as root.
        with conf.open("a") as fh:
            fh.write(f"\ninclude_if_exists = '{CONF_NAME}'\n")

    def _write_conf(self, rt: Runtime) -> None:
        path = rt.data_dir_host / CONF_NAME
        path.write_text(
            f"""# generated by `hazgate services up`; edits are overwritten
listen_addresses = '{HOST}'
port = {self.port}
unix_socket_directories = ''
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
dynamic_shared_memory_type = mmap
max_connections = 200
shared_buffers = 512MB
work_mem = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
max_worker_processes = 16
timescaledb.max_background_workers = 8
log_destination = 'stderr'
log_min_messages = warning
"""
        )
        self._chown(rt, path)

    def _pg_ctl(self, rt: Runtime, *args: str) -> list[str]:
        return rt.cmd("pg_ctl", "-D", rt.data_dir_inner, *args)

    @property
    def log_file(self) -> Path:
        return self.state_dir / "postgresql.log"

    def up(self, superuser_password: str, app_password: str) -> DbStatus:
        rt = self.runtime(install=True)
        fresh = not (rt.data_dir_host / "PG_VERSION").exists()
        if fresh:
            print(f"[services] creating a database cluster in {rt.data_dir_host}")  # noqa: T201
            self._init_cluster(rt, superuser_password)
        self._write_conf(rt)
        if not self._running(rt):
            proc.ensure_port_free(HOST, self.port, "PostgreSQL", "HAZGATE_SERVICES__DB_PORT")
            inner_log = f"{rt.data_dir_inner}/server.log"
            proc.run(
                self._pg_ctl(rt, "-l", inner_log, "-w", "-t", str(int(self.start_timeout_s)), "start"),
                what="starting PostgreSQL",
                hint=f"see {rt.data_dir_host / 'server.log'}",
                stdin=subprocess.DEVNULL,
            )
            proc.wait_for_port(HOST, self.port, self.start_timeout_s, "PostgreSQL", rt.data_dir_host / "server.log")
        self._bootstrap(superuser_password, app_password)
        return self.status(app_password)

    def _running(self, rt: Runtime) -> bool:
        pid_file = rt.data_dir_host / "postmaster.pid"
        return pid_file.exists() and proc.read_pid(pid_file) is not None

    def admin_conninfo(self, superuser_password: str, dbname: str = "postgres") -> str:
        return make_conninfo(host=HOST, port=self.port, user="postgres", password=superuser_password, dbname=dbname)

    def app_conninfo(self, app_password: str, dbname: str = "hazgate") -> str:
        return make_conninfo(host=HOST, port=self.port, user="hazgate", password=app_password, dbname=dbname)

    def _bootstrap(self, superuser_password: str, app_password: str) -> None:
        """Create the application role and database (idempotent)."""
        self.create_database("hazgate", superuser_password, app_password)

    def create_database(self, name: str, superuser_password: str, app_password: str) -> None:
        with psycopg.connect(self.admin_conninfo(superuser_password), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'hazgate'").fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE hazgate LOGIN PASSWORD {}").format(sql.Literal(app_password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER hazgate").format(sql.Identifier(name)))
        # TimescaleDB is not a trusted extension, so the superuser creates it for the app.
        with psycopg.connect(self.admin_conninfo(superuser_password, name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")

    def drop_database(self, name: str, superuser_password: str) -> None:
        with psycopg.connect(self.admin_conninfo(superuser_password), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def down(self) -> None:
        try:
            rt = self.runtime(install=False)
        except ServiceError:
            return
        if self._running(rt):
            proc.run(self._pg_ctl(rt, "-m", "fast", "-w", "stop"), what="stopping PostgreSQL")

    def status(self, app_password: str, dbname: str = "hazgate") -> DbStatus:
        url = f"postgresql://hazgate@{HOST}:{self.port}/{dbname}"
        info = probe_database(self.app_conninfo(app_password, dbname))
        return DbStatus(url, info is not None, *(info or (None, None)))


def probe_database(conninfo: str, timeout_s: int = 3) -> tuple[str | None, str | None] | None:
    """(TimescaleDB version, edition) of a reachable database, or None if it is down."""
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout_s) as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            version = row[0] if row else None
            edition = None
            if version:
                edition_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
                edition = edition_row[0] if edition_row else None
            return version, edition
    except psycopg.OperationalError:
        return None


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
