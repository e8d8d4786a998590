#!/usr/bin/env python3
"""Suggest the next configurations from past tuning runs.;
thin wrapper over `recsys optimize`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["optimize"], sys.argv[1:])
