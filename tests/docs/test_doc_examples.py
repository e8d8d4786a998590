"""Docs are part of the feature: every shell example that talks to $BASE_URL or runs an analysis
script is executed against a real server, in order, as one shell session would (exports carry
over), and a ```json block right after it is the expected answer (a subset match; the string
"..." matches anything)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from recsys.testing.server import running_server

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(\w+)\n(.*?)```", flags=re.S)


def examples(doc: Path) -> list[tuple[str, Any]]:
    """(shell script, expected JSON or None) pairs, in document order."""
    found: list[tuple[str, Any]] = []
    matches = list(FENCE.finditer(doc.read_text()))
    for index, match in enumerate(matches):
        lang, body = match.group(1), match.group(2)
        only_exports = all(
            line.startswith("export ") for line in body.strip().splitlines() if line.strip()
        )
        runnable = "$BASE_URL" in body or "analysis/scripts/" in body or only_exports
        if lang != "bash" or not runnable:
            continue
        expected = None
        following = matches[index + 1] if index + 1 < len(matches) else None
        between = doc.read_text()[match.end() : following.start()] if following else ""
        if following and following.group(1) == "json" and between.strip() == "":
            expected = json.loads(following.group(2))
        found.append((body, expected))
    return found


def documents(stdout: str) -> list[Any]:
    decoder = json.JSONDecoder()
    out, pos, text = [], 0, stdout.strip()
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            break  # plain-text output (tables, progress lines): nothing more to compare
        out.append(value)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def matches(expected: Any, actual: Any, path: str = "$") -> None:
    if expected == "...":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing in {actual!r}"
            matches(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            matches(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


DOCS_WITH_EXAMPLES = [d for d in DOCS if examples(d)]


@pytest.mark.parametrize("doc", DOCS_WITH_EXAMPLES, ids=lambda d: d.name)
def test_doc_examples_run_as_written(doc: Path, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'docs.db'}"
    # Playbook-style examples run the analysis scripts from a checkout-like folder.
    shutil.copy(ROOT / "guardrails.yml", tmp_path / "guardrails.yml")
    shutil.copytree(ROOT / "analysis" / "scripts", tmp_path / "analysis" / "scripts")
    # `python` and `recsys` in the docs, bare or as `.venv/bin/…` (the form that works in a fresh
    # shell), mean the project's. Wrappers, not symlinks: the interpreter finds its virtualenv
    # from the path it runs as.
    for folder in (tmp_path / "bin", tmp_path / ".venv" / "bin"):
        folder.mkdir(parents=True)
        wrapper = folder / "python"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
        command = folder / "recsys"
        command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recsys.cli.main "$@"\n')
        command.chmod(0o755)
    with running_server(database_url, workdir=tmp_path) as server:
        env_prefix = f"export BASE_URL={server.base_url}\nexport ORG_ID={uuid.uuid4()}\n"
        for script, expected in examples(doc):
            script = script.replace("http://localhost:8000", server.base_url)
            script = re.sub(r"^export ORG_ID=.*$", "", script, flags=re.M)
            # Variables a page exports stay set for its later examples, as in one shell.
            exports = [line for line in script.splitlines() if line.startswith("export ")]
            out = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", env_prefix + script],
                env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
            )
            assert out.returncode == 0, f"{doc.name}: {script}\n{out.stderr}"
            env_prefix += "".join(f"{line}\n" for line in exports)
            produced = documents(out.stdout)
            if expected is None:
                errors = [d for d in produced if isinstance(d, dict) and "code" in d]
                assert not errors, f"{doc.name}: {script}\n{errors}"
            else:
                assert produced, f"{doc.name}: no output from {script}"
                matches(expected, produced[-1])


def test_every_doc_link_in_readme_exists() -> None:
    for link in re.findall(r"\]\(([^)#]+\.md)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / link).exists(), link
