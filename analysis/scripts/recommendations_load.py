#!/usr/bin/env python3
"""Load-test /v1/recommendations on a server you run.;
thin wrapper over `recsys load`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["load"], sys.argv[1:])
