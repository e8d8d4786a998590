#!/usr/bin/env python3
"""Seed a namespace with the deterministic synthetic shop.;
thin wrapper over `recsys seed`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["seed"], sys.argv[1:])
