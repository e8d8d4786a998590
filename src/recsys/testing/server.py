"""Run `recsys serve` as a real subprocess on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
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
) -> Iterator[ServerProcess]:
    """Start the server, wait until /health answers 200, stop it (SIGTERM) afterwards."""
    port = port or free_port()
    log_path = workdir / f"server-{port}.log"
    full_env = {**os.environ, **(env or {}), "RECSYS_DATABASE_URL": database_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *_recsys_executable(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=workdir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
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


__all__ = ["ServerProcess", "running_server"]
