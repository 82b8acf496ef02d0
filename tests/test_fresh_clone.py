"""A clone anywhere carries what its tests, benchmarks and README examples read.

The corpora live in ``corpora/`` with their licences; no file of the project names a
path of one machine (the tests once read the corpora from a directory beside the checkout
and collected nothing elsewhere)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO / "corpora"
# An absolute path into a particular machine's layout (its workspace root or a home directory),
# or a reach into a sibling of the checkout. Spelled in parts so this file does not match itself.
_WORKSPACE, _SIBLING = "work", "shared"
MACHINE_PATH = re.compile(rf"(?<![\w.])/{_WORKSPACE}/|\.\./{_SIBLING}\b|/home/\w+/")


def _project_files() -> list[Path]:
    files = [REPO / "Makefile", REPO / "pyproject.toml", REPO / "README.md"]
    for top in ("splitbrain", "tests", "bench"):
        files += [p for p in (REPO / top).rglob("*") if p.is_file() and p.suffix in
                  {".py", ".toml", ".sh", ".j2", ".html", ".js", ".md", ".cfg", ".txt", ""}]
    return [p for p in files if "__pycache__" not in p.parts]


def test_no_file_names_a_path_outside_the_checkout() -> None:
    hits = []
    for p in _project_files():
        if p == Path(__file__).resolve():
            continue
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{p.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert hits == []


def test_corpora_carry_their_licences_and_origin() -> None:
    assert "MIT" in (CORPORA / "porcupine" / "LICENSE-porcupine.md").read_text()
    assert "Eclipse Public License" in (CORPORA / "knossos" / "LICENSE-knossos.md").read_text()
    readme = (CORPORA / "README.md").read_text()
    for origin in ("porcupine", "knossos", "linearizability-checker"):
        assert origin in readme


def test_every_expected_verdict_names_a_file_in_the_repository() -> None:
    for sub in ("porcupine", "knossos"):
        with open(CORPORA / sub / "expected.tsv", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        assert len(rows) > 10
        missing = [r["file"] for r in rows if not (CORPORA / sub / r["file"]).is_file()]
        assert missing == []
