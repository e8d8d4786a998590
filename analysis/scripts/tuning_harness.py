#!/usr/bin/env python3
"""Sweep ranking knobs and record evidence.;
thin wrapper over `recsys tune`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["tune"], sys.argv[1:])
