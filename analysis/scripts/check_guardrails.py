#!/usr/bin/env python3
"""Check tuning runs against guardrails.yml.;
thin wrapper over `recsys guardrails`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["guardrails"], sys.argv[1:])
