"""Hostile input to the foreign-history readers and to a run's test.json: every input is read (and
then judged without crashing) or rejected with BadInputError naming the file -- never another
exception. test_fuzz_inputs.py covers JSONL, nodes files and campaign TOML; this covers Porcupine
etcd and kv logs, EDN, format detection, and test.json through re-check and report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from splitbrain.checkers.judge import effective_model
from splitbrain.checkers.linearizable import check_history
from splitbrain.errors import BadInputError
from splitbrain.formats.detect import read_history
from splitbrain.formats.edn import read_edn
from splitbrain.formats.porcupine import read_porcupine_etcd, read_porcupine_kv
from splitbrain.harness.recheck import recheck_run
from splitbrain.history import History
from splitbrain.reports.html import write_report

REPO = Path(__file__).resolve().parent.parent


def fuzz(n: int):  # type: ignore[no-untyped-def]
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))


def _write(tmp_path_factory, name: str, data: str | bytes) -> str:  # type: ignore[no-untyped-def]
    p = tmp_path_factory.mktemp("fz") / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8", newline="")
    return str(p)


def _read_or_reject(read, path: str) -> History | None:  # type: ignore[no-untyped-def]
    """The reader's answer; None when it rejected the file the documented way (naming it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = read(path)
        event("read")
        return h
    except BadInputError as e:
        event("rejected")
        assert e.path == path and path in str(e)
        assert "\n" not in str(e)  # one line
        return None


def _judge(history: History, model: str) -> None:
    """A history a reader accepted must be judgeable: a verdict, or bad data -- not a crash."""
    try:
        res = check_history(history, model, timeout_s=2, max_memory_mb=64)
    except BadInputError:
        event("judged: bad data")
        return
    event(f"judged: {res.valid}")
    assert res.valid in (True, False, "unknown")


# ---------------------------------------------------------------- Porcupine etcd logs

etcd_types = st.sampled_from(["invoke", "ok", "fail", "info"]) | st.sampled_from(["bogus", "OK", ""])
etcd_fs = st.sampled_from(["read", "write", "cas"]) | st.sampled_from(["nope", "", "cas "])
etcd_values = st.one_of(
    st.just("nil"), st.integers(-10, 10).map(str), st.just(":timed-out"), st.just(":net-timeout"),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)).map(lambda t: f"[{t[0]} {t[1]}]"),
    st.text(max_size=10), st.just("[1 2"), st.just("99999999999999999999999"),
)
etcd_event = st.tuples(st.integers(0, 4), etcd_types, etcd_fs, etcd_values, st.booleans(), st.integers(0, 5),
                       st.integers(-3, 3))


def _etcd_sane(typ: str, f: str, n: int) -> str:
    """A value Porcupine's etcd logs would carry for this type and f."""
    if typ == "info":
        return ":timed-out"
    if f == "cas":
        return f"[{n} {n + 1}]"
    if f == "read":
        return "nil" if typ == "invoke" or n < 0 else str(n)
    return str(n)


def _etcd_text(events: list[tuple[int, str, str, str, bool, int, int]], torn: bool, junk: str) -> str:
    """Mostly well formed (a process invokes, then completes with the same f and a fitting value);
    one event in six keeps its raw generated type, f and value, so bad ones occur in every position."""
    pending: dict[int, str] = {}
    out: list[str] = []
    for proc, typ, f, value, tabs, chaos, n in events:
        sep = "\t" if tabs else "  "
        if chaos:
            f = f if f in ("read", "write", "cas") else "write"
            typ = typ if typ in ("ok", "fail", "info") else "ok"
        if proc in pending:
            f = pending.pop(proc)
            if typ == "invoke":
                typ = "ok"
        else:
            pending[proc] = f
            typ = "invoke" if typ in ("ok", "fail", "info") else typ
        if chaos:
            value = _etcd_sane(typ, f, n)
        out.append(f"INFO  jepsen.util - {proc}{sep}:{typ}{sep}:{f}{sep}{value}")
    if junk:
        out.insert(len(out) // 2, junk)
    text = "\n".join(out) + "\n"
    return text[:-1] if torn and text.strip() else text


@fuzz(250)
@given(st.lists(etcd_event, max_size=14), st.booleans(), st.sampled_from(["", "", "", "garbage", "INFO jepsen"]))
def test_porcupine_etcd_structured_fuzz(tmp_path_factory, events, torn, junk):
    path = _write(tmp_path_factory, "etcd.log", _etcd_text(events, torn, junk))
    h = _read_or_reject(read_porcupine_etcd, path)
    if h is not None:
        _judge(h, "etcd")


@fuzz(100)
@given(st.text(alphabet=st.sampled_from(list("INFO jepsen.util-\t:invokefailreadwritecas[]0123nil\n")), max_size=200))
def test_porcupine_etcd_text_fuzz(tmp_path_factory, text):
    path = _write(tmp_path_factory, "etcd.log", text + "\n")
    h = _read_or_reject(read_porcupine_etcd, path)
    if h is not None:
        _judge(h, "etcd")


# ---------------------------------------------------------------- Porcupine kv logs

kv_strings = st.text(alphabet=st.sampled_from(list('abxy01 "\\\n\t;{}[]:#é')), max_size=6)
kv_event = st.tuples(
    st.integers(0, 3), st.sampled_from(["invoke", "ok", "info", "fail"]), st.sampled_from(["get", "put", "append",
                                                                                          "del"]),
    kv_strings, st.none() | kv_strings | st.integers(), st.sampled_from(["exact", "edn", "extra-key", "no-key"]),
    st.integers(0, 5),
)


def _edn_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _kv_text(events: list[tuple[int, str, str, str, object, str, int]], torn: bool) -> str:
    """Mostly the kv log's own shape; one event in six keeps its raw (often wrong) fields."""
    pending: dict[int, str] = {}
    out: list[str] = []
    for proc, typ, f, key, value, shape, chaos in events:
        if chaos:
            f = f if f != "del" else "put"
            shape = shape if shape != "no-key" else "exact"
        if proc in pending:
            f = pending.pop(proc)
            typ = "ok" if typ == "invoke" or chaos else typ
        else:
            pending[proc] = f
            typ = "invoke"
        if chaos:
            value = None if (typ, f) == ("invoke", "get") else (value if isinstance(value, str) else "v")
        v = "nil" if value is None else (_edn_str(value) if isinstance(value, str) else str(value))
        if shape == "exact":
            out.append(f"{{:process {proc}, :type :{typ}, :f :{f}, :key {_edn_str(key)}, :value {v}}}")
        elif shape == "edn":
            out.append(f"{{:value {v} :key {_edn_str(key)} :f :{f} :type :{typ} :process {proc}}}")
        elif shape == "extra-key":
            out.append(f"{{:process {proc}, :type :{typ}, :f :{f}, :key {_edn_str(key)}, :value {v}, :time 5}}")
        else:
            out.append(f"{{:process {proc}, :type :{typ}, :f :{f}, :value {v}}}")
    text = "\n".join(out) + "\n"
    return text[:-1] if torn and text.strip() else text


@fuzz(250)
@given(st.lists(kv_event, max_size=12), st.booleans())
def test_porcupine_kv_structured_fuzz(tmp_path_factory, events, torn):
    path = _write(tmp_path_factory, "kv.log", _kv_text(events, torn))
    h = _read_or_reject(read_porcupine_kv, path)
    if h is not None:
        _judge(h, "kv")


@fuzz(100)
@given(st.text(alphabet=st.sampled_from(list('{}:process, :type:invokeok:f:getput:key"value nil\\#[]()\n')),
               max_size=200))
def test_porcupine_kv_text_fuzz(tmp_path_factory, text):
    path = _write(tmp_path_factory, "kv.log", text + "\n")
    h = _read_or_reject(read_porcupine_kv, path)
    if h is not None:
        _judge(h, "kv")


# ---------------------------------------------------------------- EDN (Jepsen/Knossos)

edn_atoms = st.one_of(
    st.just("nil"), st.just("true"), st.integers(-5, 5).map(str), st.sampled_from([":ok", ":a/b", ":nemesis"]),
    kv_strings.map(_edn_str), st.sampled_from(["\\a", "\\newline", "1.5", "1N", "2M", "sym", "#inst \"2020-01-01\"",
                                                "#uuid \"00000000-0000-0000-0000-000000000000\"", "#foo 1",
                                                "1/2", "##Inf", "#_ 1 2", "\"\\u00e9\"", "\\u0041"]),
)
edn_values = st.recursive(edn_atoms, lambda c: st.lists(c, max_size=3).map(lambda xs: "[" + " ".join(xs) + "]")
                          | st.lists(c, max_size=3).map(lambda xs: "#{" + " ".join(xs) + "}")
                          | st.lists(c, max_size=3).map(lambda xs: "(" + " ".join(xs) + ")"), max_leaves=6)
edn_event = st.tuples(st.integers(0, 3), st.sampled_from([":ok", ":fail", ":info"]),
                      st.sampled_from([":read", ":write", ":cas"]), edn_values, st.integers(0, 4),
                      st.sampled_from([":process", ":type", ":f", ":value", ":time", '"str-key"', "1", ":key"]))


def _edn_maps(events: list[tuple[int, str, str, str, int, str]]) -> list[str]:
    """Op maps paired the Knossos way; one in five has one field replaced by an arbitrary EDN value."""
    pending: dict[int, str] = {}
    maps: list[str] = []
    for proc, typ, f, value, chaos, field in events:
        if proc in pending:
            f = pending.pop(proc)
        else:
            pending[proc], typ = f, ":invoke"
        fields = {":process": str(proc), ":type": typ, ":f": f, ":value": value}
        if not chaos:
            fields[field] = value
        maps.append("{" + ", ".join(f"{k} {v}" for k, v in fields.items()) + "}")
    return maps


@fuzz(200)
@given(st.lists(edn_event, max_size=10), st.sampled_from(["[]", "[]", "()", "", "[", "{"]), st.booleans())
def test_edn_structured_fuzz(tmp_path_factory, events, wrap, comment):
    body = (";; a comment\n" if comment else "") + "\n".join(_edn_maps(events))
    text = {"[]": f"[{body}]\n", "()": f"({body})\n", "": body + "\n", "[": "[" + body, "{": body + "\n{:process"}[wrap]
    path = _write(tmp_path_factory, "h.edn", text)
    h = _read_or_reject(read_edn, path)
    if h is not None:
        _judge(h, effective_model("cas-register", "edn"))


@fuzz(150)
@given(st.text(alphabet=st.sampled_from(list('[](){}#:; "\\\nabnil0123,.^@~`\'')), max_size=120))
def test_edn_text_fuzz(tmp_path_factory, text):
    path = _write(tmp_path_factory, "h.edn", text)
    _read_or_reject(read_edn, path)


# ---------------------------------------------------------------- auto detection, any bytes

@fuzz(100)
@given(st.sampled_from([b"", b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n", b"{:process 0, :type :invoke, :f :get, "
                        b":key \"k\", :value nil}\n", b"[{:process 0", b"{\"index\": 0", b";\n"]), st.binary(max_size=200))
def test_auto_detect_any_bytes(tmp_path_factory, head, tail):
    path = _write(tmp_path_factory, "any.hist", head + tail)
    _read_or_reject(read_history, path)


# ---------------------------------------------------------------- test.json of a stored run

HISTORY = "".join(json.dumps(o) + "\n" for o in [
    {"index": 0, "process": 0, "type": "invoke", "f": "write", "value": 1, "time": 1},
    {"index": 1, "process": 0, "type": "ok", "f": "write", "value": 1, "time": 2},
    {"index": 2, "process": 1, "type": "invoke", "f": "read", "value": None, "time": 3},
    {"index": 3, "process": 1, "type": "ok", "f": "read", "value": 1, "time": 4},
])
hostile = st.sampled_from(["<script>alert(1)</script>", "\" onmouseover=\"alert(1)", "javascript:alert(1)", "../..",
                           "\u202e", "{{7*7}}", "</code>"])
any_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | hostile,
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                        max_leaves=5)
hostile_text = hostile | st.text(max_size=8)
# per field: a value of the right type most of the time (so the run is re-checked and its strings reach
# the report), anything at all otherwise
field_values = {
    "system": hostile_text, "workload": hostile_text | st.just("register"), "backend": hostile_text,
    "command": hostile_text, "run_id": hostile_text, "bug": st.none() | hostile_text,
    "nemesis": st.lists(hostile_text, max_size=3), "nodes": st.lists(hostile_text, max_size=3),
    "backend_options": st.dictionaries(hostile_text, any_json, max_size=2),
    "time_limit_s": st.floats(), "rate": st.floats(), "check_timeout_s": st.floats(0.1, 5) | st.floats(),
    "start_wall_time": st.floats() | st.integers(), "concurrency": st.integers(), "seed": st.integers(),
    "max_ops": st.none() | st.integers(),
}
test_field = st.sampled_from(sorted(field_values)).flatmap(
    lambda k: st.tuples(st.just(k), st.one_of(field_values[k], field_values[k], any_json)))
good = {"system": "memkv", "workload": "register", "seed": 1, "nodes": ["n1"], "check_timeout_s": 5}
test_json = st.one_of(
    st.lists(test_field, max_size=4).map(lambda kv: json.dumps({**good, **dict(kv)})),
    st.lists(test_field, max_size=4).map(lambda kv: json.dumps({**good, **dict(kv)})),
    any_json.map(json.dumps), st.text(max_size=40),
)


@fuzz(120)
@given(test_json)
def test_test_json_recheck_and_report_fuzz(tmp_path_factory, text):
    run_dir = Path(tmp_path_factory.mktemp("run"))
    (run_dir / "test.json").write_text(text)
    (run_dir / "history.jsonl").write_text(HISTORY)
    try:
        code = recheck_run(run_dir, timeout_s=5, quiet=True)
        event("rechecked")
        assert code == 0  # the history is valid whatever the config claims
    except BadInputError as e:
        event("rejected")
        assert "test.json" in str(e)
        try:
            json.loads(text)
        except ValueError:
            assert re.search(r"test\.json:\d+: not valid JSON", str(e)), str(e)  # syntax errors name their line
    # the report reads the same hostile file and must still render, with the strings inert
    page = Path(write_report(run_dir, shrink_budget_s=1)).read_text()
    assert "<script>alert" not in page and "onmouseover=\"alert" not in page


# ---------------------------------------------------------------- the CLI, a handful

def _check_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), CI="1")
    return subprocess.run([sys.executable, "-m", "splitbrain", "check", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(("model", "fmt", "text", "line"), [
    ("etcd", "porcupine-etcd", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t[\n"
                               "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n", 2),
    ("kv", "porcupine-kv", '{:process 0, :type :invoke, :f :get, :key "k", :value nil}\n{:process 0, :type :ok}\n'
                           '{:process 1, :type :invoke, :f :get, :key "k", :value nil}\n', 2),
    ("cas-register", "edn", "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok, :f :read}\n"
                            " {:process 0 :type :ok :f :write :value #{1 2}}]\n", 3),
    ("cas-register", "edn", "[{:process 0, :type :invoke, :f :read}\n {:process 0 :type :ok :f :read :value #bad}]\n",
     2),
    ("register", "jsonl", '{"index": 0, "process": 0, "type": "invoke", "f": "read", "value": null, "time": 0}\n'
                          '<script>\n{"index": 1}\n', 2),
])
def test_check_cli_rejects_with_file_and_line(tmp_path, model, fmt, text, line):
    path = tmp_path / f"bad.{fmt}"
    path.write_text(text)
    for f in ("auto", fmt):
        p = _check_cli("--model", model, "--format", f, str(path))
        assert p.returncode == 65, (f, p.stdout, p.stderr)
        assert f"{path}:{line}:" in p.stderr, (f, p.stderr)
        assert "Traceback" not in p.stderr + p.stdout


def test_check_cli_on_a_run_with_a_hostile_test_json_exits_65(tmp_path):
    (tmp_path / "test.json").write_text(json.dumps({**good, "workload": ["<script>"], "seed": "x"}))
    (tmp_path / "history.jsonl").write_text(HISTORY)
    p = _check_cli(str(tmp_path))
    assert p.returncode == 65, p.stderr
    assert "test.json" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(("read", "template"), [
    (read_porcupine_kv, '{{:process 0, :type :invoke, :f :get, :key "k", :value {deep}}}\n'),
    (read_edn, "[{{:process 0, :type :invoke, :f :read, :value {deep}}}]\n"),
    (read_history, '{{"index": 0, "process": 0, "type": "invoke", "f": "read", "time": 0, "value": {deep}}}\n'),
])
def test_deeply_nested_values_are_bad_input_with_a_line(tmp_path, read, template):
    """Nesting deeper than Python's recursion limit is rejected like any malformed line."""
    path = tmp_path / "deep.hist"
    path.write_text("\n" + template.format(deep="[" * 5000 + "]" * 5000))
    with pytest.raises(BadInputError, match=r"deep\.hist:2: "):
        read(str(path))
