#!/usr/bin/env python3
"""Scenario checks S1-S10 against guardrails.yml.;
thin wrapper over `recsys scenarios`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["scenarios"], sys.argv[1:])
