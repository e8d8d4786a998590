#!/usr/bin/env python3
"""Honest quality evaluation on a temporal holdout.;
thin wrapper over `recsys eval`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["eval"], sys.argv[1:])
