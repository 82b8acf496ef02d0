"""A run's verdict: ``results.json`` (:class:`RunResult`) and how a run ended (:class:`RunOutcome`).

``results.json`` is read and written here only. The run loop writes it, ``check
RUN_DIR`` rewrites it, and ``run``, campaigns, the pytest plugin, ``hunt``, the
report and ``serve`` read it. A run cut short by a crash may have none or a
torn one: :meth:`RunResult.read` says so with ``None`` (the report then renders
what there is), :meth:`RunResult.load` with bad input (exit 65).

:class:`RunOutcome` is what the caller of one run sees: the exit code and the
verdict, whether it ran the run in-process (it then has the whole
:class:`RunResult`) or as a child ``splitbrain run --json`` (it then has the
child's one JSON line, :meth:`RunOutcome.to_line`, the CLI contract).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInputError, MissingInputError

FILE = "results.json"
#: the sections every results.json has, in the order they are written
CORE = ("valid", "checkers", "ops", "faults", "seed", "duration_s", "counts")


@dataclass
class RunResult:
    """What ``results.json`` holds. The core verdict is typed; the sections other parts of the
    harness add (``error``, ``nemesis_errors``, ``lost_control``, ``messages``, ``membership``,
    a system's own summary under its name, ...) stay in ``sections``, in the order they came."""

    valid: Any = "unknown"  # True, False or "unknown"
    #: per checker: its result as JSON (``valid``, ``summary``, ``anomalies``, ``stats``, ...)
    checkers: dict[str, dict[str, Any]] = field(default_factory=dict)
    ops: int = 0
    faults: int = 0
    seed: int | None = None
    duration_s: float = 0.0
    #: client completions by type: ok, fail, info
    counts: dict[str, int] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ the sections read by name
    @property
    def error(self) -> str | None:
        """Why the harness itself failed (the run exits 255), or None."""
        return self.sections.get("error") or None

    @property
    def nemesis_errors(self) -> list[str]:
        return list(self.sections.get("nemesis_errors") or [])

    @property
    def node_errors(self) -> list[str]:
        return list(self.sections.get("node_errors") or [])

    def checker_verdicts(self) -> dict[str, Any]:
        """Checker name -> its verdict."""
        return {name: (r or {}).get("valid") for name, r in self.checkers.items()}

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "checkers": self.checkers, "ops": self.ops,
                               "faults": self.faults, "seed": self.seed, "duration_s": self.duration_s,
                               "counts": self.counts}
        out.update(self.sections)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunResult:
        """From a parsed results.json; missing core sections take their defaults."""
        return cls(valid=d.get("valid", "unknown"), checkers=dict(d.get("checkers") or {}),
                   ops=int(d.get("ops") or 0), faults=int(d.get("faults") or 0), seed=d.get("seed"),
                   duration_s=float(d.get("duration_s") or 0.0), counts=dict(d.get("counts") or {}),
                   sections={k: v for k, v in d.items() if k not in CORE})

    # ------------------------------------------------------------------ files
    def save(self, run_dir: Path) -> Path:
        """Write ``run_dir/results.json`` atomically (a reader never sees half of it)."""
        path = Path(run_dir) / FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, default=str) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> RunResult:
        """``run_dir``'s verdict: exit 66 when there is none, 65 when it is not a results.json."""
        path = Path(run_dir) / FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise MissingInputError(f"{path}: no such file") from None
        except (OSError, ValueError) as e:
            raise BadInputError(f"unreadable: {e}", str(path)) from None
        if not isinstance(data, dict):
            raise BadInputError("not a JSON object", str(path))
        try:
            return cls.from_json(data)
        except (TypeError, ValueError) as e:
            raise BadInputError(f"malformed: {e}", str(path)) from None

    @classmethod
    def read(cls, run_dir: Path) -> RunResult | None:
        """The lenient reader: ``run_dir``'s verdict, or None when it is missing or unreadable (a
        run cut short before it wrote one)."""
        try:
            return cls.load(run_dir)
        except (MissingInputError, BadInputError):
            return None


@dataclass
class RunOutcome:
    """How one run ended, for whoever started it."""

    exit_code: int
    valid: Any = "unknown"
    run_dir: str | None = None
    #: checker name -> ``{"valid": its verdict}`` (as ``run --json`` prints it)
    checkers: dict[str, dict[str, Any]] = field(default_factory=dict)
    ops: int = 0
    faults: int = 0
    seed: int | None = None
    #: why the run could not be carried out or vouched for ("" when it could)
    error: str = ""
    #: the whole verdict, when the run ran in this process
    result: RunResult | None = None

    @classmethod
    def of(cls, run_dir: Path, exit_code: int, result: RunResult, error: str | None = None) -> RunOutcome:
        """A run this process carried out, from its stored verdict."""
        return cls(exit_code, result.valid, str(run_dir),
                   {k: {"valid": v} for k, v in result.checker_verdicts().items()}, result.ops, result.faults,
                   result.seed, error or "", result)

    def to_line(self) -> dict[str, Any]:
        """The object ``splitbrain run --json`` prints (the CLI contract)."""
        return {"run_dir": self.run_dir, "valid": self.valid,
                "checkers": self.checkers,
                "ops": self.ops, "faults": self.faults, "seed": self.seed}

    @classmethod
    def from_line(cls, line: dict[str, Any], exit_code: int, error: str = "") -> RunOutcome:
        """A child run's outcome from its ``run --json`` line (``{}`` when it printed none)."""
        run_dir = line.get("run_dir")
        return cls(exit_code, line.get("valid", "unknown"), run_dir if isinstance(run_dir, str) else None,
                   dict(line.get("checkers") or {}),
                   int(line.get("ops") or 0), int(line.get("faults") or 0), line.get("seed"), error)
