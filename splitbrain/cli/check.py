"""``splitbrain check``: judge history files, or re-judge a stored run directory.

Files are judged one after another (:func:`splitbrain.checkers.judge.check_file`);
a malformed one prints one ``file:line: ...`` line, counts as exit 65, and the
others are still checked. A run directory is re-checked from its files
(:mod:`splitbrain.harness.recheck`). The command exits with the worst code (see
:func:`splitbrain.errors.worst_exit`).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import click

from splitbrain.checkers.judge import (
    FORMAT_CHOICES,
    LINEAR_MODELS,
    OTHER_MODELS,
    TXN_MODELS,
    check_file,
    exit_valid,
    other_checker,
    txn_options,
)
from splitbrain.checkers.models import ALIASES, MODELS
from splitbrain.checkers.result import Result
from splitbrain.errors import (
    EXIT_DATA,
    HarnessError,
    MissingInputError,
    SplitbrainError,
    UsageError,
    exit_for_valid,
    worst_exit,
)
from splitbrain.results import RunResult

#: longest-prefix entries printed by --json (the last ones, next to where the search got stuck)
MAX_PREFIX_SHOWN = 1000


def _parse_init(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise UsageError(f"--init must be JSON (e.g. 0, null, '{{\"x\": 0}}'): {e}") from None


def _report(path: str, model: str, used: str, res: Result, ops: int, seconds: float, as_json: bool) -> None:
    if as_json:
        obj: dict[str, Any] = {"file": path, "model": model, "valid": res.valid, "ops": ops,
                               "seconds": round(seconds, 4)}
        if used != model:
            obj["checked_as"] = used
        if res.valid is False:
            d = res.details
            if "unplaceable" in d:
                obj.update({k: d.get(k) for k in ("unplaceable", "longest_prefix", "key", "final_states",
                                                   "expected")})
                prefix = obj.get("longest_prefix") or []
                if len(prefix) > MAX_PREFIX_SHOWN:  # a million-op history's prefix: its end is what explains
                    obj["longest_prefix"] = prefix[-MAX_PREFIX_SHOWN:]
                    obj["longest_prefix_length"] = len(prefix)
            else:
                obj["anomalies"] = [{"kind": a.kind, "ops": a.ops[:20]} for a in res.anomalies[:20]]
            obj["summary"] = res.summary
        elif res.valid != True:  # noqa: E712 - "unknown" is truthy
            obj["summary"] = res.summary
        if "not" in res.details:  # transactional: Elle's anomaly types and the models ruled out
            obj.update({k: res.details[k] for k in ("anomaly-types", "not", "also-not")})
            if res.valid != True:  # noqa: E712
                obj["anomalies"] = [{"kind": a.kind, "ops": a.ops[:20], "explanation": a.explanation[:2000]}
                                    for a in res.anomalies[:20]]
        click.echo(json.dumps(obj, default=str))
        return
    word = {True: "valid", False: "INVALID"}.get(res.valid, "unknown")  # type: ignore[arg-type]
    line = f"{path}: {word} ({model}{'' if used == model else ' as ' + used}, {ops} ops, {seconds:.3f} s)"
    if res.valid is not True and res.summary:
        line += f": {res.summary}"
    click.echo(line)


def _check_dir(path: str, timeout_s: float | None, as_json: bool) -> int:
    try:
        from splitbrain.harness.recheck import recheck_run
    except ImportError as e:
        raise HarnessError(f"re-checking a run directory needs splitbrain.harness.recheck, which is not "
                           f"available ({e})") from None
    start = time.monotonic()
    if not as_json:
        return int(recheck_run(path, timeout_s=timeout_s))
    code = int(recheck_run(path, timeout_s=timeout_s, quiet=True))
    obj: dict[str, Any] = {"file": path, "model": "run", "valid": exit_valid(code)}
    results = RunResult.read(Path(path))
    if results is not None:
        obj.update(valid=results.valid, ops=results.ops, checkers=results.checker_verdicts())
    obj["seconds"] = round(time.monotonic() - start, 4)
    click.echo(json.dumps(obj, default=str))
    return code


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--model", "-m", default=None,
              help="register, cas-register, kv, multi-register, mutex, etcd, set, counter, unique-ids, list-append, "
                   "rw-register (Elle's, transactional)")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True)
@click.option("--init", "init_json", default=None, help="initial model state as JSON (default null)")
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True,
              help="seconds per file before the verdict is unknown")
@click.option("--max-memory", "max_memory_mb", type=float, default=None,
              help="MB of resident memory the whole check may use before the verdict is unknown "
                   "(default: half the memory available at start; 0: no cap)")
@click.option("--consistency-models", "models", default=None,
              help="list-append / rw-register: models that must hold, Elle's names, comma-separated "
                   "(default strict-serializable; 'none' for none)")
@click.option("--anomalies", "anomalies", default=None,
              help="list-append / rw-register: anomalies to reject too (G0, G1, G-single, G2, internal, ...); "
                   "given alone, only these are checked")
@click.option("--cycle-search-timeout", "cycle_timeout_s", type=float, default=1.0, show_default=True,
              help="seconds per cycle class and component before that class is unknown")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
def check(paths: tuple[str, ...], model: str | None, fmt: str, init_json: str | None, timeout_s: float,
          max_memory_mb: float | None, models: str | None, anomalies: str | None, cycle_timeout_s: float,
          as_json: bool) -> int:
    """Check histories for linearizability (or set/counter/... properties); or re-check RUN_DIRs."""
    # A path that does not exist is reported as missing (66), whatever else the command lacks.
    files = [p for p in paths if os.path.exists(p) and not os.path.isdir(p)]
    if files and model is None:
        raise UsageError("--model is required to check a history file (e.g. --model cas-register)")
    if model is not None and ALIASES.get(model, model) not in MODELS and model not in OTHER_MODELS:
        valid = sorted({*LINEAR_MODELS, *OTHER_MODELS, *ALIASES})
        raise UsageError(f"unknown model {model!r}; valid: {', '.join(valid)}")
    if model in OTHER_MODELS and files:
        other_checker(model)
    txn_opts = txn_options(models, anomalies)
    if txn_opts and model not in TXN_MODELS and files:
        raise UsageError(f"--consistency-models / --anomalies apply to {', '.join(TXN_MODELS)}, not {model!r}")
    txn_opts["cycle_search_timeout_s"] = cycle_timeout_s
    init = _parse_init(init_json)
    if model is not None and model not in OTHER_MODELS and init is not None:
        MODELS[ALIASES.get(model, model)].init(init)  # a bad --init is a usage error, before any file
    codes: list[int] = []
    for path in paths:
        start = time.monotonic()
        try:
            if not os.path.exists(path):
                raise MissingInputError(f"{path}: no such file or run directory")
            if os.path.isdir(path):
                codes.append(_check_dir(path, timeout_s, as_json))
                continue
            assert model is not None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res, ops, used = check_file(path, model, fmt, init, timeout_s, max_memory_mb, txn_opts)
            for w in caught:
                click.echo(f"warning: {w.message}", err=True)
        except SplitbrainError as e:
            msg = str(e)
            if not msg.startswith(path):
                msg = f"{path}: {msg}"
            click.echo(msg, err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "model": model, "valid": None, "error": msg,
                                       "exit_code": e.exit_code}))
            codes.append(e.exit_code)
            continue
        except RecursionError:
            click.echo(f"{path}: nesting too deep to read", err=True)
            codes.append(EXIT_DATA)
            continue
        _report(path, model, used, res, ops, time.monotonic() - start, as_json)
        codes.append(exit_for_valid(res.valid))
    return worst_exit(codes)
