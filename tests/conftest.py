"""Shared test fixtures: the reference corpora, which live in the repository (corpora/)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "corpora"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's copy of Porcupine's and Knossos' histories (see corpora/README.md)."""
    return DATA
