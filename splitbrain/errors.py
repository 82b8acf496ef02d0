"""One exception tree, one place that maps it to exit codes.

Exit codes follow Jepsen for verdicts and sysexits for bad input, so a shell
script or CI job can tell "the system is broken" from "you called me wrong"
from "the harness fell over":

    0 valid, 1 invalid, 2 unknown, 64 usage, 65 bad input data, 66 missing input,
    130 interrupted before anything was recorded, 255 harness failure.

A multi-file check or a campaign exits with the worst code, where "worst" is
the order 255 > 66 > 65 > 64 > 1 > 2 > 0 (:func:`worst_exit`).
"""

from __future__ import annotations

from typing import Any

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_USAGE = 64
EXIT_DATA = 65
EXIT_NOINPUT = 66
EXIT_INTERRUPTED = 130
EXIT_HARNESS = 255

#: (code, meaning) for ``--help`` texts: the one place the meanings are written for users
EXIT_CODES_HELP = [
    ("0", "valid"),
    ("1", "invalid: an anomaly was found"),
    ("2", "unknown: the checker ran out of time or memory (never reported as valid)"),
    ("64", "usage error (bad flag or name); nothing was written"),
    ("65", "malformed input data"),
    ("66", "an input file or run directory does not exist"),
    ("130", "interrupted before any operation completed"),
    ("255", "the harness failed or lost control (node did not start, node lost, fault not healed)"),
]

_SEVERITY = {EXIT_VALID: 0, EXIT_UNKNOWN: 1, EXIT_INVALID: 2, EXIT_USAGE: 3, EXIT_DATA: 4, EXIT_NOINPUT: 5, EXIT_HARNESS: 6}


def worst_exit(codes: list[int] | tuple[int, ...]) -> int:
    """The exit code a multi-part command ends with: the most severe of its parts."""
    worst = EXIT_VALID
    for code in codes:
        if _SEVERITY.get(code, 6) > _SEVERITY.get(worst, 6):
            worst = code
    return worst


def exit_for_valid(valid: object) -> int:
    """Map a tri-state verdict (True, False, "unknown") to its exit code."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


class SplitbrainError(Exception):
    """Base of every error splitbrain raises on purpose. The CLI prints ``str(err)`` on one line."""

    exit_code = EXIT_HARNESS


class UsageError(SplitbrainError):
    """The user asked for something that does not exist or cannot work (bad flag, unknown name)."""

    exit_code = EXIT_USAGE


class BackendUnavailable(UsageError):
    """The chosen backend cannot run here (no Docker engine, unreachable host)."""


class BadInputError(SplitbrainError):
    """Input data is malformed. Carries ``path`` and ``line`` so the message can say ``file:line``."""

    exit_code = EXIT_DATA

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingInputError(SplitbrainError):
    """An input file or run directory named on the command line does not exist (exit 66)."""

    exit_code = EXIT_NOINPUT


class HarnessError(SplitbrainError):
    """The harness itself failed: a node did not start, a backend lost a node, setup broke."""

    exit_code = EXIT_HARNESS


class NodeStartError(HarnessError):
    """A node failed to start. The first line of the message says everything needed to act
    (node, reason, exit status, where, command, the node's last output line); the lines
    after it hold the tail of the node's own output. ``failure`` carries the same as data
    (:class:`splitbrain.backends.bringup.StartFailure`) for harness.log and the report."""

    def __init__(self, node: str, reason: str, log_tail: str = "", failure: Any = None) -> None:
        self.node = node
        self.log_tail = log_tail if failure is None else failure.output
        self.failure = failure
        if failure is not None:
            super().__init__(failure.details())
            return
        tail = f"\n--- last lines of {node}'s log ---\n{log_tail}" if log_tail else ""
        super().__init__(f"node {node} failed to start: {reason}{tail}")

    @classmethod
    def of(cls, failure: Any) -> NodeStartError:
        """The error for a :class:`~splitbrain.backends.bringup.StartFailure`."""
        return cls(failure.node, failure.reason, failure.output, failure)
