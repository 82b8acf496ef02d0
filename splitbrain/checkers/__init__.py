"""Checkers: pure functions from a History to a Result.

Every checker has the shape ``check(history: History, **options) -> Result``
and never raises on a well-formed history: a checker that crashes or runs out
of time or memory returns ``valid="unknown"``, never ``True``.
"""

from splitbrain.checkers.result import Anomaly, Result, merge_valid

__all__ = ["Anomaly", "Result", "merge_valid"]
