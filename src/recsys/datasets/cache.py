"""The local dataset cache: where files live, how they arrive (pip), how they are verified.

Datasets are fetched at run time and never committed, so every file in the cache is checked
against a pinned sha256 when it arrives and again whenever it is read: a truncated download or a
file swapped behind our back is deleted rather than silently used.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

CACHE_ENV = "RECSYS_DATA_CACHE"
DEFAULT_CACHE_DIR = Path(".cache") / "datasets"
PIP_TIMEOUT_SECONDS = 600

# Runs `python -m pip <args>`; tests pass a fake that writes a wheel of their own.
PipRunner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


class DatasetError(Exception):
    """A dataset could not be fetched or read; the message says what to do."""


class NotFetched(DatasetError):
    """The dataset is not in the cache yet."""


class ChecksumMismatch(DatasetError):
    """A file's sha256 is not the pinned one (the file has been deleted)."""


class DownloadError(DatasetError):
    """pip could not download the file (network, index, proxy)."""


def resolve_cache_dir(option: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The --cache-dir option, else $RECSYS_DATA_CACHE, else ./.cache/datasets (git-ignored)."""
    env = os.environ if environ is None else environ
    if option is not None:
        chosen = option
    elif env.get(CACHE_ENV):
        chosen = Path(env[CACHE_ENV])
    else:
        chosen = DEFAULT_CACHE_DIR
    # Absolute, so that messages name the folder unambiguously.
    return chosen.expanduser().absolute()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def refetch_hint(name: str) -> str:
    return f"run `recsys datasets fetch {name}` (with the same --cache-dir / ${CACHE_ENV})"


def read_verified(path: Path, expected_sha256: str, *, name: str) -> bytes:
    """The file's bytes, once their sha256 matched; a mismatching file is deleted.

    Hashing the very bytes that are then parsed leaves no gap between check and use."""
    if not path.is_file():
        raise NotFetched(f"{name} is not fetched yet (no {path}); {refetch_hint(name)} first")
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        path.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{path} has sha256 {actual}, expected {expected_sha256}: the file is damaged or "
            f"not the pinned release, so it was deleted; {refetch_hint(name)} to download it again"
        )
    return data


def is_verified(path: Path, expected_sha256: str) -> bool:
    """True when the file exists and matches; never deletes (for listings)."""
    return path.is_file() and sha256_file(path) == expected_sha256


def run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # The running interpreter's pip: the same index and proxy settings as the install itself.
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=PIP_TIMEOUT_SECONDS,
    )


def download_wheel(
    requirement: str,
    filename: str,
    expected_sha256: str,
    dest_dir: Path,
    *,
    name: str,
    pip: PipRunner = run_pip,
) -> Path:
    """`dest_dir/filename`, downloaded with `pip download --no-deps` unless a verified copy is
    already there. Nothing is installed. The download lands in a temporary folder inside
    dest_dir and is verified before one atomic rename puts it in place, so a reader never sees
    a partial or unverified file."""
    target = dest_dir / filename
    if is_verified(target, expected_sha256):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".fetch-") as tmp:
        args = [
            "download",
            "--no-deps",
            "--only-binary=:all:",  # the pinned hash is the wheel's; never build an sdist
            "--disable-pip-version-check",
            "--dest",
            tmp,
            requirement,
        ]
        try:
            result = pip(args)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DownloadError(f"could not run pip to download {requirement}: {exc}") from exc
        if result.returncode != 0:
            raise DownloadError(_pip_failure(requirement, result))
        downloaded = Path(tmp) / filename
        if not downloaded.is_file():
            found = sorted(p.name for p in Path(tmp).iterdir())
            raise DownloadError(f"pip downloaded {found or 'nothing'}, expected {filename}")
        actual = sha256_file(downloaded)
        if actual != expected_sha256:
            raise ChecksumMismatch(
                f"the downloaded {filename} has sha256 {actual}, expected {expected_sha256}; "
                "it was discarded (is the package index a mirror serving other files?)"
            )
        os.replace(downloaded, target)
    return target


def _pip_failure(requirement: str, result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    errors = [line.strip() for line in lines if line.lstrip().startswith("ERROR")] or lines[-3:]
    detail = "; ".join(errors) or "no output"
    return (
        f"could not download {requirement} with pip (exit {result.returncode}): {detail}. "
        "Check the network connection and pip's index/proxy settings "
        "(PIP_INDEX_URL, HTTPS_PROXY), then retry."
    )


__all__ = [
    "CACHE_ENV",
    "ChecksumMismatch",
    "DatasetError",
    "DownloadError",
    "NotFetched",
    "PipRunner",
    "download_wheel",
    "is_verified",
    "read_verified",
    "refetch_hint",
    "resolve_cache_dir",
    "run_pip",
    "sha256_bytes",
    "sha256_file",
]
