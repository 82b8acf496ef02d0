"""The verdict type every checker returns.

``valid`` is tri-state, as in Jepsen: ``True``, ``False`` or ``"unknown"``.
Merging takes false over unknown over true: one broken promise makes the run
invalid, and a checker that could not decide never makes a run look valid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from splitbrain.history import History

Valid = bool | Literal["unknown"]


def merge_valid(values: list[Valid]) -> Valid:
    if any(v is False for v in values):
        return False
    if any(v != True for v in values):  # noqa: E712 - "unknown" is truthy
        return "unknown"
    return True


@dataclass
class Anomaly:
    """One thing that went wrong, pointing at the history.

    ``ops`` are history indices (the ``index`` field of the ops involved, invocations
    and completions), so reports can highlight them and localize faults around them.
    ``kind`` is a short name (``nonlinearizable``, ``lost``, ``G1c``, ...).
    """

    kind: str
    explanation: str
    ops: list[int] = field(default_factory=list)
    key: Any = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What a checker concluded, and enough to explain it."""

    checker: str
    valid: Valid
    summary: str = ""
    anomalies: list[Anomaly] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Result:
        d = dict(d)
        d["anomalies"] = [Anomaly(**a) for a in d.get("anomalies", [])]
        return cls(**d)


class Checker(Protocol):
    """A checker: a pure function from a history (and keyword options) to a :class:`Result`.

    It may take ``timeout_s``: the harness passes its check budget to checkers
    that declare it. An exception inside a checker becomes ``valid: "unknown"``.
    """

    def __call__(self, history: History, **options: Any) -> Result: ...
