#!/usr/bin/env python3
"""Simulate the bandit algorithms against Bernoulli arms and chart their regret;
thin wrapper over `recsys bandit-simulate`; run with --help for its flags."""

import sys

from recsys.cli.main import run_script

if __name__ == "__main__":
    run_script(["bandit-simulate"], sys.argv[1:])
