#!/usr/bin/env python3
"""How well user profiles cover the catalogue.;
thin wrapper over `recsys profile-coverage`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["profile-coverage"], sys.argv[1:])
