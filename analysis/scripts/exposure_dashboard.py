#!/usr/bin/env python3
"""Exposure of items, brands and categories in rankings.;
thin wrapper over `recsys exposure`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["exposure"], sys.argv[1:])
