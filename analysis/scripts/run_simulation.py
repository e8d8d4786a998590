#!/usr/bin/env python3
"""Simulate users clicking through recommendations.;
thin wrapper over `recsys simulate`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["simulate"], sys.argv[1:])
