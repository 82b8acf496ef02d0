"""Reading ``splitbrain run --json`` from a child process: the one home of its parsing.

Campaigns, the pytest plugin, ``hunt`` and the benchmarks all drive ``run`` as a child (so a
crash or a Ctrl-C of one run cannot take the caller down) and read its verdict from the last
JSON object it printed on stdout; anything else on stdout (progress, warnings) is skipped.
"""

from __future__ import annotations

import json
from typing import Any


def last_json_object(stdout: str) -> dict[str, Any]:
    """The last line of ``stdout`` that parses as a JSON object, or ``{}`` when there is none
    (the child died before printing its verdict)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}
