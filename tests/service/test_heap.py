"""Big temporaries go back to the OS when freed once the registry has set the heap up (glibc
would otherwise serve them from its heap after the first big free, and keep them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
import numpy as np

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

if sys.argv[1] == "mapped":
    from recsys.service.heap import map_large_blocks
    map_large_blocks()
scratch = np.ones(1 << 20)  # 8 MiB, mapped and freed: glibc raises its threshold past it
del scratch
before = rss_mib()
big, live = [], []
for _ in range(20):
    big.append(np.ones(6 << 17))  # 6 MiB each, touched
    live.append(np.ones(8 << 10))  # 64 KiB still held after each
del big
print(rss_mib() - before)
"""


def _kept_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_blocks_of_megabytes_leave_the_process() -> None:
    assert _kept_mib("default") >= 60  # the control: 120 MiB freed, most of it kept
    assert _kept_mib("mapped") <= 10
