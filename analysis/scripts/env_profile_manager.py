#!/usr/bin/env python3
"""Fetch, edit and apply env profiles (namespace config).;
thin wrapper over `recsys profile`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["profile"], sys.argv[1:])
