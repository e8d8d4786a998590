"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temp dir, a free loopback
port, stopped and removed afterwards. Runs the server as `postgres` via runuser when we are root
(initdb refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server binaries are not installed here."""


def find_bindir() -> Path:
    """Locate initdb/pg_ctl: RECSYS_PG_BINDIR, then Debian's layout, then PATH."""
    explicit = os.environ.get("RECSYS_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).parent))
    for candidate in candidates:
        if (
            candidate
            and (Path(candidate) / "initdb").exists()
            and (Path(candidate) / "pg_ctl").exists()
        ):
            return Path(candidate)
    raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster: its URL, and the means to restart it under live clients."""

    url: str
    bindir: Path
    data: Path
    log: Path
    options: str  # the server options (`pg_ctl -o`) it was started with

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m <mode>`: every connection is dropped; returns once it accepts
        connections again (pg_ctl reuses the options the cluster was started with)."""
        self._pg_ctl("-m", mode, "restart")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (connections dropped, new ones refused) until `start()`."""
        self._pg_ctl("-m", mode, "stop")

    def start(self) -> None:
        """Start a stopped server again, with the options it first had; returns once it
        accepts connections."""
        self._pg_ctl("-o", self.options, "start")

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
        subprocess.run(
            _as_postgres([*command, "-w", "-t", "60", *args]),
            check=True,
            capture_output=True,
            timeout=90,
        )


@contextmanager
def throwaway_cluster(*, durable: bool = False, database: str = "recsys") -> Iterator[str]:
    """Start a private cluster and yield a `postgresql+psycopg://` URL to a fresh database.

    `durable=False` turns fsync off: fine for tests (a killed *process* loses nothing either
    way), not for benchmarks that claim production figures.
    """
    with throwaway_server(durable=durable, database=database) as server:
        yield server.url


@contextmanager
def throwaway_server(
    *, durable: bool = False, database: str = "recsys"
) -> Iterator[PostgresServer]:
    """`throwaway_cluster`, yielding the server handle rather than only its URL."""
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="recsys-pg-"))
    data = root / "data"
    log = root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    port = free_port()
    started = False
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = [
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={root}",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join(options),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        started = True
        _create_database(port, database)
        yield PostgresServer(
            url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}",
            bindir=bindir,
            data=data,
            log=log,
            options=" ".join(options),
        )
    finally:
        if started:
            subprocess.run(
                _as_postgres(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _create_database(port: int, database: str) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


__all__ = [
    "PostgresServer",
    "PostgresUnavailable",
    "find_bindir",
    "free_port",
    "throwaway_cluster",
    "throwaway_server",
]
