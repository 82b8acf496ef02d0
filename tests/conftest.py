"""Shared test fixtures: where the reference corpora live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_dir() -> Path | None:
    for cand in (os.environ.get("SPLITBRAIN_DATA"), REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


DATA = _data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA is None:
        pytest.fail("reference corpora not found: expected ../shared/data beside the checkout (or $SPLITBRAIN_DATA)")
    return DATA
