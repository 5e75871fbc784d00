"""The README and docs/*.md stand alone: every file they name or link is in the repository
(or is one of the daemon's own runtime files), none outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# A file name as docs write one: optional ./ or ../, path segments, a known extension.
FILE_TOKEN = re.compile(
    r"(?<![\w/.-])((?:\.\.?/)*[\w.-]+(?:/[\w.-]+)*\.(?:md|txt|py|toml|json|c|h|service|sh))\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Files the daemon writes under its root (docs describe them; the repository has none).
RUNTIME_PREFIXES = ("etc/omd/", "var/")
RUNTIME_NAMES = {"state.json", "status.json"}


def _repo_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return out.stdout.split()


@pytest.mark.parametrize("doc", DOCS)
def test_doc_names_only_repository_files(doc: str) -> None:
    files = _repo_files()
    names = {Path(f).name for f in files}
    text = (ROOT / doc).read_text()
    outside = []
    for m in FILE_TOKEN.finditer(text):
        token = m.group(1)
        if token.startswith(RUNTIME_PREFIXES) or token in RUNTIME_NAMES:
            continue
        if Path(token).name not in names:
            outside.append(token)
    assert not outside, f"{doc} names files that are not in the repository: {outside}"


@pytest.mark.parametrize("doc", DOCS)
def test_doc_links_resolve_inside_the_repository(doc: str) -> None:
    base = (ROOT / doc).parent
    bad = []
    for m in LINK.finditer((ROOT / doc).read_text()):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        resolved = (base / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            bad.append(target)
    assert not bad, f"{doc} links outside the repository or to nothing: {bad}"
