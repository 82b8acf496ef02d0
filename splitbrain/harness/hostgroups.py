"""Campaigns on a fleet: parallel ssh runs take disjoint groups of the nodes file's hosts.

The ssh backend drives the first N hosts of its nodes file, so two runs given one
file would share hosts (and kill, partition and skew each other's nodes). A campaign
with ``--backend ssh --parallel K --nodes N`` cuts the fleet's file into K groups of N
hosts, writes each as its own nodes file, and lends one group to each run for as long
as it runs: no host is ever in two runs at once.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from pathlib import Path

from splitbrain.backends.ssh.hosts import load_nodes_file
from splitbrain.errors import UsageError


def nodes_file_arg(extra_args: list[str]) -> str | None:
    """The ``--nodes-file`` a campaign passes its runs (``--run-arg=--nodes-file=F`` or two run-args)."""
    found = None
    for i, arg in enumerate(extra_args):
        if arg.startswith("--nodes-file="):
            found = arg.split("=", 1)[1]
        elif arg == "--nodes-file" and i + 1 < len(extra_args):
            found = extra_args[i + 1]
    return found


class HostGroups:
    """K disjoint nodes files cut from one, lent to one run at a time each."""

    def __init__(self, nodes_file: str, per_run: int, parallel: int, directory: Path) -> None:
        hosts = load_nodes_file(nodes_file)
        if per_run * parallel > len(hosts):
            raise UsageError(f"--parallel {parallel} x --nodes {per_run} needs {per_run * parallel} hosts; "
                             f"{nodes_file} lists {len(hosts)}")
        directory.mkdir(parents=True, exist_ok=True)
        self.files: list[str] = []
        self._free: queue.Queue[str] = queue.Queue()
        for g in range(parallel):
            path = directory / f"hosts-{g + 1}.txt"
            path.write_text("".join(f"{h}\n" for h in hosts[g * per_run:(g + 1) * per_run]))
            self.files.append(str(path))
            self._free.put(str(path))

    @contextlib.contextmanager
    def lend(self) -> Iterator[str]:
        path = self._free.get()
        try:
            yield path
        finally:
            self._free.put(path)
