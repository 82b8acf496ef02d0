"""What the harness watches beside the history: node-to-node messages and node states.

Both are for *reading* a run (the report's space-time diagram, node-state bands and
the localization sentence), never for judging it: the checkers see the history only.

* messages: a backend that sees every peer message (the local backend's link
  proxies) records them when asked (``record_messages(origin_ns, max_records)``);
  other backends (docker, ssh: faults act in the kernel) do not, and the results say
  so, so the report can say messages were not captured rather than show none.
* node states: for systems speaking splitbrain's wire protocol, a
  :class:`~splitbrain.harness.nodestates.StatePoller` asks each node's ``status``.

:class:`Observers` starts both once the history clock runs and writes
``messages.jsonl`` and ``node-states.jsonl`` at the end; its summary goes into
``results.json`` under ``messages`` and ``node_states``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from splitbrain.harness.nodestates import FILE as STATES_FILE
from splitbrain.harness.nodestates import StatePoller
from splitbrain.messages import LinkTap

log = logging.getLogger("splitbrain.harness")

#: most messages written to messages.jsonl (the rest are counted); ~120 bytes each
MAX_MESSAGES = 200_000


def speaks_wire(system: Any) -> bool:
    """Whether the system's clients speak splitbrain's wire protocol (so ``status`` may be asked)."""
    from splitbrain.systems.base import WireClient

    try:
        client = system.client("127.0.0.1", 9)  # constructing a client does not connect
    except Exception:  # noqa: BLE001 - a client that cannot even be built: no status
        return False
    return isinstance(client, WireClient)


class Observers:
    def __init__(self, backend: Any, system: Any, nodes: list[str], origin_ns: int, run_dir: Path,
                 max_messages: int = MAX_MESSAGES) -> None:
        self.backend, self.run_dir = backend, Path(run_dir)
        self.tap: LinkTap | None = None
        self.poller: StatePoller | None = None
        self.why_no_messages: str | None = None
        recorder = getattr(backend, "record_messages", None)
        self.own_log = getattr(system, "open_session", None) is not None
        if self.own_log:
            pass  # the system's harness session records its messages itself (Maelstrom's shims)
        elif recorder is None:
            self.why_no_messages = (f"the {getattr(backend, 'name', '?')} backend does not capture messages "
                                    "(its faults act in the kernel, not in a proxy the harness owns)")
        else:
            self.tap = recorder(origin_ns, max_messages)
            if self.tap is None:
                self.why_no_messages = "this system's peers share addresses: no per-link proxy sees its messages"
        if speaks_wire(system):
            self.poller = StatePoller(nodes, backend.client_address, origin_ns)
            self.poller.start()

    async def stop_polling(self) -> None:
        if self.poller is not None:
            await self.poller.stop()

    def finish(self) -> dict[str, Any]:
        """Write the files (after the backend's teardown: the proxies are stopped); the results' part."""
        out: dict[str, Any] = {}
        if self.tap is not None:
            try:
                out["messages"] = self.tap.write(self.run_dir / "messages.jsonl")
            except OSError as e:
                log.error("could not write messages.jsonl: %s", e)
        elif not self.own_log:
            out["messages"] = {"captured_by": None, "not_captured": self.why_no_messages}
        if self.poller is not None:
            summary = self.poller.log.summary()
            if self.poller.unsupported:
                summary["no_status"] = sorted(self.poller.unsupported)
            try:
                self.poller.log.write(self.run_dir / STATES_FILE)
            except OSError as e:
                log.error("could not write %s: %s", STATES_FILE, e)
            out["node_states"] = summary
        return out

