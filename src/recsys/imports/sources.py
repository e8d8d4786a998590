"""Reading an import file record by record, with the line each record starts on.

The format comes from the extension (`.csv`, `.jsonl` or `.ndjson`, each optionally `.gz`).
Files are decoded as UTF-8; a byte-order mark (as spreadsheet exports write) is skipped."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal

from recsys.imports.errors import ImportFormatError

Format = Literal["csv", "jsonl"]
_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def file_format(path: Path) -> tuple[Format, bool]:
    """(format, gzipped) from the file name, case-insensitively."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes.pop()
    found = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise ImportFormatError(
            path, None, None, "unknown extension: use .csv, .jsonl or .ndjson (optionally .gz)"
        )
    return found, gzipped


def _open(path: Path, gzipped: bool) -> IO[str]:
    try:
        if gzipped:
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ImportFormatError(path, None, None, f"cannot open: {exc.strerror or exc}") from exc


# What a damaged file raises while being read: undecodable bytes, a broken gzip stream.
_READ_ERRORS = (UnicodeDecodeError, OSError, EOFError, zlib.error)


def csv_records(
    path: Path, gzipped: bool, check_header: Callable[[list[str]], None]
) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line, header, cells) for every non-blank record after the header, which is trimmed and
    given to `check_header` first (also when no record follows). Cells are trimmed."""
    with _open(path, gzipped) as stream:
        reader = csv.reader(stream, strict=True)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                raise ImportFormatError(path, 1, None, "empty file: line 1 must be the header")
            header = [name.strip() for name in header]
            check_header(header)
            line = reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue  # blank lines (also trailing ones) carry nothing
                yield start, header, [cell.strip() for cell in cells]
        except csv.Error as exc:
            raise ImportFormatError(path, reader.line_num or line, None, f"CSV: {exc}") from exc
        except _READ_ERRORS as exc:
            raise ImportFormatError(path, line, None, f"cannot read: {exc}") from exc


def jsonl_lines(path: Path, gzipped: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line."""
    with _open(path, gzipped) as stream:
        number = 0
        try:
            for number, text in enumerate(stream, start=1):
                if text.strip():
                    yield number, text
        except _READ_ERRORS as exc:
            raise ImportFormatError(path, number + 1, None, f"cannot read: {exc}") from exc


__all__ = ["Format", "csv_records", "file_format", "jsonl_lines"]
