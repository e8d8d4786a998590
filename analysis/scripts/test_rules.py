#!/usr/bin/env python3
"""Check merchandising rules against live rankings.;
thin wrapper over `recsys rules-check`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["rules-check"], sys.argv[1:])
