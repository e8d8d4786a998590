#!/usr/bin/env python3
"""Reset a namespace to a clean slate.;
thin wrapper over `recsys reset`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["reset"], sys.argv[1:])
