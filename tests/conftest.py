"""Shared test fixtures: the reference corpora (in the repository, corpora/) and a headless browser."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "corpora"
#: Debian's chromium, which the report tests drive through Playwright
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's copy of Porcupine's and Knossos' histories (see corpora/README.md)."""
    return DATA


@pytest.fixture(scope="module")
def browser():
    """A headless chromium (Playwright), one per test module; skips without either."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()
