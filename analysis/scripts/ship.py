#!/usr/bin/env python3
"""Ship a tuning run through a canary (gate, start; `status`, `stop`);
thin wrapper over `recsys ship`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["ship"], sys.argv[1:])
