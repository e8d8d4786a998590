"""A builder killed (SIGKILL) in the middle of writing a version: the previous version stays the
newest, loads intact, and the dead writer's leftovers are swept by the next collection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recsys.signals import artifact
from tests.signals.test_artifact import NS, ORG, built, content_of

CHILD = """
import sys, time
from pathlib import Path
from recsys.signals import artifact
from tests.signals.test_artifact import ORG, NS, built, content_of

root, ready = Path(sys.argv[1]), Path(sys.argv[2])
real = artifact._write_array

def stalled(path, array):
    described = real(path, array)
    ready.write_text(path.name)  # one file written, the version not published yet
    while True:
        time.sleep(60)

artifact._write_array = stalled
artifact.publish(root, ORG, NS, content_of(*built()))
"""


def test_a_builder_killed_mid_write_leaves_the_previous_version(tmp_path: Path) -> None:
    previous = artifact.publish(tmp_path, ORG, NS, content_of(*built())).path
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(ready)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ready.exists(), "the writer never started"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    home = artifact.namespace_dir(tmp_path, ORG, NS)
    leftovers = [p for p in home.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and any(leftovers[0].iterdir())  # it was mid-write
    assert artifact.versions(tmp_path, ORG, NS) == [previous]
    artifact.load(previous)  # intact
    assert artifact.collect_garbage(tmp_path, ORG, NS) == leftovers
    assert [p.name for p in home.iterdir() if not p.name.startswith(".build")] == [previous.name]
