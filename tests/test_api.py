"""splitbrain.api is the whole plugin surface: curated, documented, and enough for etcd."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import splitbrain.api as api
from splitbrain.errors import UsageError
from splitbrain.registry import SYSTEMS

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_exists_and_is_documented():
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        obj = getattr(api, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"splitbrain.api.{name} has no docstring"
    public = {n for n in vars(api) if not n.startswith("_") and n != "annotations"}
    assert public <= set(api.__all__) | {"TYPE_CHECKING"}, f"names outside __all__: {public - set(api.__all__)}"


def _splitbrain_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "splitbrain":
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "splitbrain"}
    return out


def test_etcd_adapter_uses_only_the_public_api():
    """The proof that the API suffices for a real third-party system: the adapter and every module of
    its own it imports (as a plugin package would split itself) reach splitbrain only through the API."""
    seen, todo = set(), ["splitbrain.systems.etcd"]
    while todo:
        module = todo.pop()
        seen.add(module)
        own = _splitbrain_imports(ROOT / (module.replace(".", "/") + ".py")) - {"splitbrain.api"}
        assert all(m.startswith("splitbrain.systems.etcd") for m in own), (module, own)
        todo += sorted(own - seen)
    assert len(seen) >= 1


def test_etcd_declares_its_abilities_as_typed_capabilities():
    etcd = SYSTEMS.get("etcd")
    assert isinstance(etcd, api.System)
    assert isinstance(etcd, api.Configurable) and isinstance(etcd, api.NodeSetup)
    assert etcd.traits.default_nodes == 3 and etcd.traits.shared_peer_addresses
    assert "clock" in etcd.traits.unsupported_faults
    weak = etcd.configure(api.SystemOpts(bug="serializable-reads"))
    assert weak.serializable and not etcd.configure(api.SystemOpts()).serializable
    with pytest.raises(UsageError, match="has no option 'reads'"):
        etcd.configure(api.SystemOpts(values={"reads": "sync"}))


def test_system_opts_getters_validate_with_the_key_and_what_is_allowed():
    opts = api.SystemOpts(values={"reads": "sync", "wait": "3", "bad": "x"})
    assert opts.choice("reads", ["plain", "sync"], "plain") == "sync"
    assert opts.choice("mode", ["a", "b"], "a") == "a"
    assert opts.integer("wait", 1, low=0) == 3
    with pytest.raises(UsageError, match="reads='sync': allowed values: plain, quorum"):
        opts.choice("reads", ["plain", "quorum"], "plain")
    with pytest.raises(UsageError, match="expected an integer"):
        opts.integer("bad", 1)
    with pytest.raises(UsageError, match="must be within"):
        opts.integer("wait", 1, low=5)


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_system_opt_refused_by_a_system_that_takes_none(tmp_path):
    p = _run("run", "raft", "--system-opt", "reads=sync", "--store", str(tmp_path))
    assert p.returncode == 64, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "takes no --system-opt" in lines[0], p.stderr
    assert not (tmp_path / "raft-register").exists(), "nothing may start before the options are valid"


def test_malformed_system_opt_is_a_usage_error(tmp_path):
    p = _run("run", "raft", "--system-opt", "novalue", "--store", str(tmp_path))
    assert p.returncode == 64 and "KEY=VALUE" in p.stderr, p.stderr
