"""Run `recsys serve` (or another HTTP server command) as a real subprocess on a free loopback
port (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from recsys.testing.postgres import free_port


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill_hard(self, timeout: float = 30.0) -> list[int]:
        """Crash the server: SIGKILL the uvicorn master and every worker at once, then wait
        until none of them runs any more. Returns the pids that were killed.

        Killing only the master would not do: its workers would go on serving (and committing)
        from the listening socket they inherited. `running_server` starts the master as the
        leader of a new process group, which its workers (and multiprocessing's helpers) join,
        so one `killpg` reaches them all, with nothing else of ours in that group.
        """
        pgid = self.process.pid
        members = group_members(pgid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=timeout)
        _wait_group_gone(pgid, timeout)
        return members


def _recsys_executable() -> list[str]:
    exe = Path(sys.executable).with_name("recsys")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "recsys.cli.main"]


@contextmanager
def running_server(
    database_url: str,
    *,
    workdir: Path,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    startup_timeout: float = 60.0,
    log_level: str | None = "warning",
) -> Iterator[ServerProcess]:
    """Start the server, wait until /health answers 200, stop it (SIGTERM) afterwards.
    `log_level=None` leaves the level to RECSYS_LOG_LEVEL."""
    port = port or free_port()
    command = [
        *_recsys_executable(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(["--log-level", log_level] if log_level else []),
    ]
    full_env = {**os.environ, **(env or {}), "RECSYS_DATABASE_URL": database_url}
    with running_process(
        command, port=port, workdir=workdir, env=full_env, startup_timeout=startup_timeout
    ) as server:
        yield server


@contextmanager
def running_process(
    command: Sequence[str],
    *,
    port: int,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
    name: str = "server",
) -> Iterator[ServerProcess]:
    """Run an HTTP server command listening on 127.0.0.1:`port`: wait until /health answers
    200, then stop it (SIGTERM, and SIGKILL for whatever of its process group survives)."""
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=workdir,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group (see `ServerProcess.kill_hard`), out of the reach of the
            # terminal's Ctrl-C too: the `finally` below stops it in order.
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_healthy(server, startup_timeout)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        # A master that died or was killed alone leaves its workers running: end them too.
        if group_members(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            _wait_group_gone(process.pid, 30)


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of process group `pgid` (Linux: from /proc).

    A killed worker whose parent died first stays a zombie until init reaps it; it runs no
    code and holds no socket or lock, so it does not count."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process has just gone
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(stat.parent.name))
    return sorted(members)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while members := group_members(pgid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {members} of group {pgid} survived SIGKILL")
        time.sleep(0.02)


def _wait_healthy(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server not healthy after {timeout}s:\n{server.log()}")


__all__ = ["ServerProcess", "group_members", "running_process", "running_server"]
