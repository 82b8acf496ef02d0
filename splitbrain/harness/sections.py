"""What a run's ``results.json`` says besides the checkers' verdicts.

The run loop knows why it stopped, what the system's session and the observers saw and which
faults it could not control; this module turns that into the result's sections in one place, so
the rule that decides a run the harness cannot vouch for (exit 255, never valid) lives beside the
record of why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.history import History
from splitbrain.systems.capabilities import Documented


@dataclass
class RunFacts:
    """What the run loop knows at its end, besides the history."""

    system: object
    system_name: str
    nodes: list[str]
    membership: bool  # the run could change membership (the fault, or a replayed schedule)
    interrupted: bool
    error: str | None = None
    start_failure: dict[str, Any] | None = None
    session_summary: dict[str, Any] | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    nemesis_errors: list[str] = field(default_factory=list)
    lost_control: list[str] = field(default_factory=list)


def sections(history: History, facts: RunFacts) -> tuple[dict[str, Any], str | None]:
    """The result's sections and the run's error: a run that lost control of a fault or a node
    gets one naming why, even when nothing else failed."""
    error = facts.error
    extra: dict[str, Any] = {"interrupted": facts.interrupted}
    if error:
        extra["error"] = error
    if facts.start_failure is not None:
        extra["start_failure"] = facts.start_failure
    if facts.session_summary is not None:
        extra[facts.system_name] = facts.session_summary
        if facts.session_summary.get("node_errors"):
            extra["node_errors"] = list(facts.session_summary["node_errors"])
    extra.update(facts.observed)
    if isinstance(facts.system, Documented):
        extra["system_promises"] = facts.system.promises()
    if facts.membership:
        from splitbrain.nemesis.membership import summarize as membership_summary

        section = membership_summary(history.ops, facts.nodes)
        if section is not None:
            extra["membership"] = section
    if facts.nemesis_errors:
        extra["nemesis_errors"] = list(facts.nemesis_errors)
    # Faults that could not be applied, verified or healed, and nodes lost under the run: the
    # harness lost control, so the run ends 255 and is never reported valid.
    lost = list(facts.nemesis_errors) + list(facts.lost_control)
    if lost:
        extra["lost_control"] = lost
        if not error:
            error = "lost control of the run: " + "; ".join(lost)
            extra["error"] = error
    return extra, error
