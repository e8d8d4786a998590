#!/usr/bin/env python3
"""Check that identical requests give identical lists.;
thin wrapper over `recsys determinism`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["determinism"], sys.argv[1:])
