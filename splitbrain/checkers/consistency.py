"""Consistency models and the anomalies that rule them out: Elle's lattice, as data.

Three relations, after ``elle.consistency-model`` (Kingsbury & Alvaro, "Elle:
Inferring Isolation Anomalies from Experimental Observations"; Adya's thesis;
Bailis et al., "Highly Available Transactions"; Cerone et al.):

* :data:`MODELS` -- ``a -> [b, ...]``: a history that satisfies model ``a`` also
  satisfies every ``b`` (strict-serializable implies serializable implies
  repeatable-read ...);
* :data:`PROSCRIBES` -- the anomalies a model forbids *directly* (it also forbids
  everything its weaker models forbid);
* :data:`IMPLIES` -- ``a -> [b, ...]``: seeing anomaly ``a`` means ``b`` happened
  too (G0 is a special G1c; G-single-item is a G-single; ``-process`` is
  weaker evidence than plain, ``-realtime`` weaker still).

From these a checker asks two questions: which anomalies make a history fail
when the user expects some models (:func:`prohibited`), and which models the
anomalies it found rule out (:func:`boundary`: the weakest ones as ``not``, the
stronger rest as ``also-not``). Names are Elle's friendly names; Adya's ``PL-*``
names are accepted as aliases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from splitbrain.errors import UsageError

#: friendly name -> canonical (Adya) name, where they differ
CANONICAL: dict[str, str] = {
    "consistent-view": "PL-2+", "conflict-serializable": "PL-3", "cursor-stability": "PL-CS",
    "forward-consistent-view": "PL-FCV", "monotonic-snapshot-read": "PL-MSR", "monotonic-view": "PL-2L",
    "read-committed": "PL-2", "read-uncommitted": "PL-1", "repeatable-read": "PL-2.99",
    "serializable": "PL-3", "snapshot-isolation": "PL-SI", "strict-serializable": "PL-SS",
    "strong-serializable": "PL-SS", "update-serializable": "PL-3U",
    "strong-session-read-uncommitted": "strong-session-PL-1",
    "strong-session-read-committed": "strong-session-PL-2",
    "strong-read-uncommitted": "strong-PL-1", "strong-read-committed": "strong-PL-2",
}
#: canonical -> friendly (PL-3 has two friendly names; serializable is the one users say)
FRIENDLY: dict[str, str] = {**{c: f for f, c in CANONICAL.items()}, "PL-3": "serializable",
                             "PL-SS": "strict-serializable"}


def canonical(model: str) -> str:
    return CANONICAL.get(model, model)


def friendly(model: str) -> str:
    return FRIENDLY.get(model, model)


_MODELS_FRIENDLY: dict[str, list[str]] = {
    "causal-cerone": ["read-atomic"],
    "consistent-view": ["cursor-stability", "monotonic-view"],
    "conflict-serializable": ["view-serializable"],
    "cursor-stability": ["read-committed", "PL-2"],
    "forward-consistent-view": ["consistent-view"],
    "PL-2": ["PL-1"],
    "PL-3": ["repeatable-read", "update-serializable"],
    "update-serializable": ["forward-consistent-view"],
    "monotonic-atomic-view": ["read-committed"],
    "monotonic-view": ["PL-2"],
    "monotonic-snapshot-read": ["PL-2"],
    "parallel-snapshot-isolation": ["causal-cerone", "ROLA"],
    "prefix": ["causal-cerone"],
    "read-atomic": ["monotonic-atomic-view"],
    "read-committed": ["read-uncommitted"],
    "repeatable-read": ["cursor-stability", "monotonic-atomic-view"],
    "ROLA": ["read-atomic"],
    "serializable": ["repeatable-read", "snapshot-isolation", "view-serializable"],
    "session-serializable": ["1SR"],
    "snapshot-isolation": ["forward-consistent-view", "monotonic-atomic-view", "monotonic-snapshot-read",
                           "parallel-snapshot-isolation", "prefix"],
    "strict-serializable": ["PL-3", "serializable", "linearizable", "snapshot-isolation",
                            "strong-snapshot-isolation", "strong-session-serializable"],
    "strong-session-PL-1": ["PL-1"],
    "strong-session-PL-2": ["PL-2", "strong-session-PL-1"],
    "strong-PL-1": ["strong-session-PL-1"],
    "strong-PL-2": ["strong-session-PL-2", "strong-PL-1"],
    "strong-session-serializable": ["serializable", "strong-session-snapshot-isolation"],
    "strong-session-snapshot-isolation": ["snapshot-isolation", "strong-session-PL-2"],
    "strong-serializable": ["session-serializable"],
    "strong-snapshot-isolation": ["strong-session-snapshot-isolation", "strong-PL-2"],
    "linearizable": ["sequential"],
    "sequential": ["causal"],
    "causal": ["writes-follow-reads", "PRAM"],
    "PRAM": ["monotonic-reads", "monotonic-writes", "read-your-writes"],
}

#: model -> models it implies (canonical names)
MODELS: dict[str, set[str]] = {}
for _a, _bs in _MODELS_FRIENDLY.items():
    MODELS.setdefault(canonical(_a), set()).update(canonical(b) for b in _bs)

#: model -> anomalies it forbids directly (canonical model names)
PROSCRIBES: dict[str, list[str]] = {canonical(m): a for m, a in {
    "causal-cerone": ["internal", "G1a"],
    "cursor-stability": ["G1", "G-cursor", "lost-update"],
    "monotonic-view": ["G1", "G-monotonic"],
    "monotonic-snapshot-read": ["G1", "G-MSR"],
    "consistent-view": ["G1", "G-single"],
    "forward-consistent-view": ["G1", "G-SIb"],
    "parallel-snapshot-isolation": ["internal", "G1a"],
    "PL-3": ["G1", "G2", "predicate-read-miss", "PL-3-cycle-exists"],
    "PL-2": ["G1", "PL-2-cycle-exists"],
    "PL-1": ["G0", "duplicate-elements", "cyclic-versions", "PL-1-cycle-exists"],
    "prefix": ["internal", "G1a"],
    "serializable": ["internal"],
    "snapshot-isolation": ["internal", "G1", "G-SI", "G-nonadjacent", "PL-SI-cycle-exists"],
    "read-atomic": ["internal", "G1a", "future-read"],
    "repeatable-read": ["G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"],
    "ROLA": ["lost-update"],
    "strict-serializable": ["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"],
    "strong-session-PL-1": ["strong-session-PL-1-cycle-exists", "G0-process"],
    "strong-session-PL-2": ["strong-session-PL-2-cycle-exists", "G1c-process"],
    "strong-PL-1": ["strong-PL-1-cycle-exists", "G0-realtime"],
    "strong-PL-2": ["strong-PL-2-cycle-exists", "G1c-realtime"],
    "strong-session-snapshot-isolation": ["internal", "G1-process", "G-nonadjacent-process",
                                          "strong-session-snapshot-isolation-cycle-exists"],
    "strong-snapshot-isolation": ["internal", "G1-realtime", "G-nonadjacent-realtime",
                                  "strong-snapshot-isolation-cycle-exists"],
    "strong-session-serializable": ["G1-process", "G2-process", "strong-session-serializable-cycle-exists"],
    "update-serializable": ["G1", "G-update"],
}.items()}

#: anomaly -> anomalies it implies
IMPLIES: dict[str, list[str]] = {
    "G0": ["G1c", "G0-process"],
    "G0-process": ["G1c-process", "G0-realtime"],
    "G0-realtime": ["G1c-realtime"],
    "G1a": ["G1"], "G1b": ["G1"],
    "G1c": ["G1", "G1c-process"],
    "G1c-process": ["G1c-realtime", "G1-process"],
    "G1c-realtime": ["G1-realtime"],
    "G1": ["G1-process"], "G1-process": ["G1-realtime"],
    "G-single-item": ["G-single", "G-single-item-process", "G-nonadjacent-item"],
    "G-single-item-process": ["G-single-process", "G-single-item-realtime", "G-nonadjacent-item-process"],
    "G-single-item-realtime": ["G-single-realtime", "G-nonadjacent-item-realtime"],
    "G-single": ["G-nonadjacent", "GSIb", "G-single-process"],
    "G-single-process": ["G-nonadjacent-process", "G-single-realtime"],
    "G-single-realtime": ["G-nonadjacent-realtime"],
    "G-nonadjacent-item": ["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    "G-nonadjacent-item-process": ["G-nonadjacent-process", "G2-item-process", "G-nonadjacent-item-realtime"],
    "G-nonadjacent-item-realtime": ["G2-item-realtime", "G-nonadjacent-realtime"],
    "G-nonadjacent": ["G2", "G-nonadjacent-process"],
    "G-nonadjacent-process": ["G2-process", "G-nonadjacent-realtime"],
    "G-nonadjacent-realtime": ["G2-realtime"],
    "G2": ["G2-process"],
    "G2-item": ["G2", "G2-item-process"],
    "G2-item-process": ["G2-process", "G2-item-realtime"],
    "G2-item-realtime": ["G2-realtime"],
    "G2-process": ["G2-realtime"],
    "GSIa": ["GSI"], "GSIb": ["GSI"],
    "incompatible-order": ["G1a"],
    "future-read": ["G1c"],
    "dirty-update": ["G1a"],
    "lost-update": ["write-skew", "G2-item"],
    "write-skew": ["G2"],
    # splitbrain's own: a read of a value no transaction ever wrote is at least a dirty read
    "garbage-read": ["G1a"],
}

#: anomalies that make a verdict unknown rather than invalid
UNKNOWN_ANOMALIES = frozenset({"empty-transaction-graph", "cycle-search-timeout"})


def _closure(start: Iterable[str], edges: dict[str, set[str]] | dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(edges.get(x, ()))
    return seen


def _reverse(edges: dict[str, set[str]] | dict[str, list[str]]) -> dict[str, set[str]]:
    rev: dict[str, set[str]] = {}
    for a, bs in edges.items():
        for b in bs:
            rev.setdefault(b, set()).add(a)
    return rev


_MODELS_REV = _reverse(MODELS)
_IMPLIES_REV = _reverse(IMPLIES)
_PROSCRIBED_BY = _reverse(PROSCRIBES)

ALL_MODELS: frozenset[str] = frozenset(
    set(MODELS) | {b for bs in MODELS.values() for b in bs} | set(CANONICAL) | set(CANONICAL.values()))
ALL_ANOMALIES: frozenset[str] = frozenset(
    set(IMPLIES) | {b for bs in IMPLIES.values() for b in bs} | {a for as_ in PROSCRIBES.values() for a in as_}
    | UNKNOWN_ANOMALIES)


def validate_models(models: Iterable[str]) -> list[str]:
    out = list(models)
    bad = [m for m in out if m not in ALL_MODELS]
    if bad:
        raise UsageError(f"unknown consistency model {bad[0]!r}; known: "
                         f"{', '.join(sorted({friendly(m) for m in ALL_MODELS} - {m for m in ALL_MODELS if m.startswith('PL-')}))}")
    return out


def validate_anomalies(anomalies: Iterable[str]) -> list[str]:
    out = list(anomalies)
    bad = [a for a in out if a not in ALL_ANOMALIES]
    if bad:
        raise UsageError(f"unknown anomaly {bad[0]!r}; known: {', '.join(sorted(ALL_ANOMALIES))}")
    return out


def implied_models(models: Iterable[str]) -> set[str]:
    """Every model implied by any of ``models`` (canonical names, the models themselves included)."""
    return _closure((canonical(m) for m in models), MODELS)


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    return _closure(anomalies, IMPLIES)


def anomalies_implying(anomalies: Iterable[str]) -> set[str]:
    return _closure(anomalies, _IMPLIES_REV)


def anomalies_prohibited_by(models: Iterable[str]) -> set[str]:
    direct = {a for m in implied_models(models) for a in PROSCRIBES.get(m, ())}
    return anomalies_implying(direct)


def impossible_models(anomalies: Iterable[str]) -> set[str]:
    """Models (canonical) that cannot hold once these anomalies are seen."""
    direct = {m for a in implied_anomalies(anomalies) for m in _PROSCRIBED_BY.get(a, ())}
    return _closure(direct, _MODELS_REV)


@dataclass(frozen=True)
class Expectation:
    """What the user expects of a history: models that must hold, plus anomalies to reject."""

    models: tuple[str, ...] = ("strict-serializable",)
    anomalies: tuple[str, ...] = ()

    def prohibited(self) -> set[str]:
        """Anomalies that make the history invalid."""
        return anomalies_implying(self.anomalies) | anomalies_prohibited_by(self.models)

    def reportable(self) -> set[str]:
        return self.prohibited() | UNKNOWN_ANOMALIES

    def wants(self, suffix: str) -> bool:
        return any(a.endswith(suffix) for a in self.reportable())


def parse_expectation(models: str | Iterable[str] | None, anomalies: str | Iterable[str] | None) -> Expectation:
    """From CLI text (comma-separated) or lists; ``None`` models means the default,
    an empty string means none (only ``anomalies`` count)."""
    def split(v: str | Iterable[str] | None) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip() and x.strip() != "none"]
        return list(v)

    ms, an = split(models), split(anomalies)
    if ms is None:
        ms = [] if an else ["strict-serializable"]
    return Expectation(tuple(validate_models(ms)), tuple(validate_anomalies(an or [])))


def weakest(models: set[str]) -> set[str]:
    """The members of ``models`` not implied by another member (the boundary of what failed)."""
    out = set(models)
    for m in models:
        below = _closure(MODELS.get(m, ()), MODELS) - {m}
        if below & out:
            out.discard(m)
    return out


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(not, also_not)``: the weakest models these anomalies rule out, and the stronger rest
    (friendly names, sorted)."""
    imp = impossible_models(anomalies)
    weak = weakest(imp)
    return sorted(friendly(m) for m in weak), sorted({friendly(m) for m in imp - weak})
