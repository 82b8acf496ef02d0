"""The ``Test``: everything needed to run a test again, exactly.

Saved as ``test.json`` in the run directory before anything starts, so even a
run that crashes leaves behind what it was and how to repeat it. ``command``
is the shell line that re-runs it (same seed, same schedule); every report
and failure message can quote it.
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInputError

#: backend option keys that are on/off flags on the command line
FLAG_OPTIONS = frozenset({"insecure_host_keys"})
#: backend option keys that have their own ``--flag VALUE``
NAMED_OPTIONS = frozenset({"nodes_file", "ssh_user", "ssh_key", "known_hosts", "image"})


@dataclass
class Test:
    __test__ = False  # not a pytest test class, despite the name

    system: str
    workload: str = "register"
    nemesis: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=lambda: [f"n{i}" for i in range(1, 6)])
    backend: str = "local"
    backend_options: dict[str, Any] = field(default_factory=dict)
    time_limit_s: float = 30.0
    concurrency: int = 5
    rate: float = 30.0
    seed: int = 0
    bug: str | None = None
    #: ``--system-opt KEY=VALUE`` pairs, handed to the system (:class:`~splitbrain.api.SystemOpts`)
    system_opts: dict[str, str] = field(default_factory=dict)
    #: a schedule file to replay instead of drawing one from the seed (``run --schedule``)
    schedule: str | None = None
    #: a Maelstrom node's binary and its arguments (``run maelstrom --bin``)
    bin: str | None = None
    bin_args: list[str] = field(default_factory=list)
    max_ops: int | None = None
    #: independent keys (register-shaped workloads): None = the workload's default
    ops_per_key: int | None = None
    clients_per_key: int | None = None
    op_timeout_s: float = 3.0
    nemesis_interval_s: float = 5.0
    recovery_s: float = 10.0
    check_timeout_s: float = 60.0
    store: str = "store"
    run_id: str = ""
    start_wall_time: float = 0.0
    command: str = ""
    #: --consistency-models / --anomalies for the transactional checkers (empty: their defaults)
    checker_options: dict[str, Any] = field(default_factory=dict)

    def rng(self, purpose: str) -> random.Random:
        """An independent stream per purpose, all derived from the one seed.

        Separate streams keep, say, the nemesis schedule identical whether the
        clients managed 100 ops or 10,000 in the same time.
        """
        return random.Random(f"{self.seed}/{purpose}")

    def rerun_command(self) -> str:
        argv = [
            "splitbrain", "run", self.system, "--workload", self.workload,
            "--nemesis", ",".join(self.nemesis) or "none", "--nodes", str(len(self.nodes)),
            "--backend", self.backend, "--time-limit", _num(self.time_limit_s),
            "--concurrency", str(self.concurrency), "--rate", _num(self.rate), "--seed", str(self.seed),
        ]
        if self.bug:
            argv += ["--bug", self.bug]
        for key, value in sorted(self.system_opts.items()):
            argv += ["--system-opt", f"{key}={value}"]
        if self.schedule:
            argv += ["--schedule", self.schedule]
        if self.bin:
            argv += ["--bin", self.bin, *(f"--bin-arg={arg}" for arg in self.bin_args)]
        if self.max_ops is not None:
            argv += ["--max-ops", str(self.max_ops)]
        if self.ops_per_key is not None:
            argv += ["--ops-per-key", str(self.ops_per_key)]
        if self.clients_per_key is not None:
            argv += ["--clients-per-key", str(self.clients_per_key)]
        if self.op_timeout_s != 3.0:
            argv += ["--op-timeout", _num(self.op_timeout_s)]
        if self.nemesis and self.nemesis_interval_s != 5.0:
            argv += ["--nemesis-interval", _num(self.nemesis_interval_s)]
        if self.store != "store":
            argv += ["--store", self.store]
        if "consistency_models" in self.checker_options:
            argv += ["--consistency-models", ",".join(self.checker_options["consistency_models"]) or "none"]
        if self.checker_options.get("anomalies"):
            argv += ["--anomalies", ",".join(self.checker_options["anomalies"])]
        for key, value in sorted(self.backend_options.items()):
            flag = "--" + key.replace("_", "-")
            if key not in FLAG_OPTIONS and key not in NAMED_OPTIONS:
                argv += ["--backend-opt", f"{key}={value}"]
            elif key in FLAG_OPTIONS:
                if value:
                    argv.append(flag)
            elif value is not None:
                argv += [flag, str(value)]
        return shlex.join(argv)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, run_dir: Path) -> Path:
        path = run_dir / "test.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, default=str) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> Test:
        path = run_dir / "test.json"
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise BadInputError(f"cannot read: {e.strerror}", str(path)) from None
        except ValueError as e:
            raise BadInputError(f"not valid JSON ({e})", str(path), getattr(e, "lineno", None)) from None
        if not isinstance(data, dict) or not isinstance(data.get("system"), str):
            raise BadInputError('expected an object with a "system" name', str(path))
        known = {f.name for f in fields(cls)}
        for key, value in data.items():
            if key in known and not _FIELD_OK[_KIND.get(key, "str")](value):
                raise BadInputError(f"{key!r} has the wrong type ({type(value).__name__}: {str(value)[:40]!r})",
                                    str(path))
        return cls(**{k: v for k, v in data.items() if k in known})


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


#: what each field of a loaded test.json may hold; a file that breaks this is bad data, not a crash later
_KIND = {"nemesis": "strs", "nodes": "strs", "backend_options": "dict", "system_opts": "dict",
         "checker_options": "dict", "concurrency": "int", "seed": "int", "schedule": "str?",
         "ops_per_key": "int?", "clients_per_key": "int?",
         "max_ops": "int?", "bug": "str?", "time_limit_s": "num", "rate": "num", "op_timeout_s": "num",
         "bin": "str?", "bin_args": "strs",
         "nemesis_interval_s": "num", "recovery_s": "num", "check_timeout_s": "num", "start_wall_time": "num"}
_FIELD_OK = {
    "str": lambda v: isinstance(v, str),
    "str?": lambda v: v is None or isinstance(v, str),
    "strs": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "dict": lambda v: isinstance(v, dict),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "int?": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "num": _is_num,
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
