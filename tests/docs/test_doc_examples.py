"""Docs are part of the feature: every shell example that talks to $BASE_URL or runs an analysis
script is executed against a real server, in order, as one shell session would (exports carry
over), and a ```json block right after it is the expected answer (a subset match; the string
"..." matches anything). All guides run against one server and one org, one after another, in
both orders: a guide that leaned on another's data, or changed it, would fail."""

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


def run_doc(doc: Path, base_url: str, org_id: str, workdir: Path) -> None:
    """A doc's examples in order, as one fresh shell would run them (its exports carry over)."""
    env_prefix = f"export BASE_URL={base_url}\nexport ORG_ID={org_id}\n"
    for script, expected in examples(doc):
        script = script.replace("http://localhost:8000", base_url)
        script = re.sub(r"^export ORG_ID=.*$", "", script, flags=re.M)
        exports = [line for line in script.splitlines() if line.startswith("export ")]
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", env_prefix + script],
            env={**os.environ, "PATH": f"{workdir / 'bin'}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=workdir,
        )
        assert out.returncode == 0, f"{doc.name}: {script}\n{out.stderr}"
        env_prefix += "".join(f"{line}\n" for line in exports)
        produced = documents(out.stdout)
        if expected is None:
            errors = [d for d in produced if isinstance(d, dict) and "code" in d]
            assert not errors, f"{doc.name}: {script}\n{errors}"
        else:
            assert produced, f"{doc.name}: no output from {script}"
            try:
                matches(expected, produced[-1])
            except AssertionError as exc:
                raise AssertionError(f"{doc.name}: {script}\n{exc}") from exc


def prepare(workdir: Path) -> None:
    # Playbook-style examples run the analysis scripts from a checkout-like folder.
    shutil.copy(ROOT / "guardrails.yml", workdir / "guardrails.yml")
    shutil.copytree(ROOT / "analysis" / "scripts", workdir / "analysis" / "scripts")
    # `python` and `recsys` in the docs, bare or as `.venv/bin/…` (the form that works in a fresh
    # shell), mean the project's. Wrappers, not symlinks: the interpreter finds its virtualenv
    # from the path it runs as.
    for folder in (workdir / "bin", workdir / ".venv" / "bin"):
        folder.mkdir(parents=True)
        wrapper = folder / "python"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
        command = folder / "recsys"
        command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recsys.cli.main "$@"\n')
        command.chmod(0o755)


@pytest.mark.parametrize("order", ["in order", "in reverse"])
def test_the_guides_give_their_documented_output_one_after_another(
    order: str, tmp_path: Path
) -> None:
    """One reader, one server, one org, every guide followed after the others: each guide keeps
    to its own namespace and event ids, so none changes what another documents."""
    prepare(tmp_path)
    docs = DOCS_WITH_EXAMPLES if order == "in order" else DOCS_WITH_EXAMPLES[::-1]
    org_id = str(uuid.uuid4())
    with running_server(f"sqlite:///{tmp_path / 'docs.db'}", workdir=tmp_path) as server:
        for doc in docs:
            run_doc(doc, server.base_url, org_id, tmp_path)


def test_the_guides_use_namespaces_of_their_own() -> None:
    owners: dict[str, str] = {}
    for doc in DOCS_WITH_EXAMPLES:
        text = "\n".join(script for script, _ in examples(doc))
        exported = dict(re.findall(r"^export (NS)=(\S+)$", text, flags=re.M))
        names = set(re.findall(r'\\?"namespace\\?": ?\\?"([A-Za-z0-9_.-]+)', text))
        names |= set(re.findall(r"[?&]namespace=([A-Za-z0-9_.-]+)", text))
        names |= set(exported.values())
        for name in names:
            assert owners.setdefault(name, doc.name) == doc.name, (name, owners[name], doc.name)


def test_every_doc_link_in_readme_exists() -> None:
    for link in re.findall(r"\]\(([^)#]+\.md)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / link).exists(), link
