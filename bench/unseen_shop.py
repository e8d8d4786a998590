"""The quality benchmark on a dataset nothing was tuned on, through the generic import path.

    .venv/bin/python bench/unseen_shop.py [--output FILE] [--protocol temporal]

Writes a synthetic shop that no default, grid or comment was ever chosen on (another size, seed
and date than the playbook's shop of bench/defaults.py) as import-format CSV files into a
temporary folder, then runs `recsys bench quality --items --users --events` on them, exactly
as a user would on their own export."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from recsys.datasets import DatasetRecords, write_import_files
from recsys.offline.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--protocol", default="temporal")
    args = parser.parse_args(argv)
    shop = generate(
        n_items=1200,
        n_users=2500,
        n_events=100_000,
        now=datetime(2025, 3, 14, tzinfo=UTC),
        seed=90210,
    )
    events = [
        {k: v for k, v in e.items() if k != "meta"} for e in shop.event_dicts(0, len(shop.events))
    ]
    # Free-form props have no CSV column (the import format keeps them in JSON lines only).
    items = [{k: v for k, v in item.items() if k != "props"} for item in shop.items]
    records = DatasetRecords(items=items, users=shop.users, events=events)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "unseen-shop"  # the benchmark names the dataset by its folder
        home.mkdir()
        files = write_import_files(records, home, "csv")
        command = [
            sys.executable,
            "-m",
            "recsys.cli.main",
            "bench",
            "quality",
            "--items",
            str(files["items"]),
            "--users",
            str(files["users"]),
            "--events",
            str(files["events"]),
            "--protocol",
            args.protocol,
        ]
        if args.output:
            command += ["--output", str(args.output.resolve())]
        return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
