"""``splitbrain check`` as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "splitbrain", "check", *args], capture_output=True, text=True,
                       timeout=300, env=env, cwd=cwd or REPO)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def jsonl(tmp_path: Path, name: str, events: list[dict[str, object]], tail: str = "") -> str:
    p = tmp_path / name
    p.write_text("".join(json.dumps(e) + "\n" for e in events) + tail)
    return str(p)


GOOD = [{"process": 0, "type": "invoke", "f": "write", "value": 1},
        {"process": 0, "type": "ok", "f": "write", "value": 1},
        {"process": 1, "type": "invoke", "f": "read", "value": None},
        {"process": 1, "type": "ok", "f": "read", "value": 1}]
BAD = GOOD[:3] + [{"process": 1, "type": "ok", "f": "read", "value": 2}]


def test_several_corpus_files_json_and_worst_exit(data_dir: Path) -> None:
    files = [str(data_dir / "porcupine" / "jepsen" / f"etcd_00{i}.log") for i in (0, 2)]
    files.append(str(data_dir / "porcupine" / "kv" / "c10-ok.txt"))
    p = run("--model", "etcd", "--json", *files[:2])
    assert p.returncode == 1
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["valid"] for o in objs] == [False, True]
    assert {"file", "model", "valid", "ops", "seconds"} <= set(objs[0])
    assert objs[0]["ops"] == 85 and objs[0]["unplaceable"] and objs[0]["longest_prefix"]
    kv = run("--model", "kv", "--json", files[2])
    assert kv.returncode == 0 and json.loads(kv.stdout)["valid"] is True


def test_formats_carry_their_semantics(data_dir: Path) -> None:
    edn = str(data_dir / "knossos" / "cas-register" / "good" / "memstress3-0.edn")
    p = run("--model", "cas-register", "--init", "0", "--json", edn)
    obj = json.loads(p.stdout)
    assert p.returncode == 0 and obj["checked_as"] == "knossos-cas-register"
    multi = str(data_dir / "knossos" / "multi-register" / "good" / "multi-register.edn")
    assert run("--model", "multi-register", "--init", '{"x": 0, "y": 0}', multi).returncode == 0
    mutex = str(data_dir / "knossos" / "mutex" / "bad" / "etcd.edn")
    p = run("--model", "mutex", mutex)
    assert p.returncode == 1 and "INVALID" in p.stdout


def test_a_malformed_file_is_one_line_65_and_others_still_checked(tmp_path: Path) -> None:
    good = jsonl(tmp_path, "good.jsonl", GOOD)
    bad = jsonl(tmp_path, "bad.jsonl", BAD)
    broken = jsonl(tmp_path, "broken.jsonl", GOOD[:1], '{"process": 0, "type": "ok", "f": "write"\n' +
                   json.dumps(GOOD[2]) + "\n")
    p = run("--model", "cas-register", good, broken, bad)
    assert p.returncode == 65
    assert p.stderr.strip() == f"{broken}:2: not valid JSON (Expecting ',' delimiter)"
    assert f"{good}: valid" in p.stdout and f"{bad}: INVALID" in p.stdout


@pytest.mark.parametrize("name,content,line,what", [
    ("empty.jsonl", "", 1, "empty"),
    ("garbage.bin", "\x00\x01\x02\xff", 1, "binary"),
    ("orphan.jsonl", json.dumps(GOOD[1]) + "\n", 1, "no pending invocation"),
    ("twice.jsonl", json.dumps(GOOD[0]) + "\n" + json.dumps(GOOD[0]) + "\n", 2, "still pending"),
    ("type.jsonl", json.dumps({**GOOD[0], "type": "maybe"}) + "\n", 1, '"type" must be'),
    ("shape.jsonl", json.dumps({**GOOD[0], "f": "cas", "value": 3}) + "\n", 1, "cas value must be [old, new]"),
    ("shape.edn", "[{:process 0, :type :invoke, :f :cas, :value 3}]", 1, "cas value must be [old, new]"),
    ("bad.log", "INFO  jepsen.util - 0\t:invoke\t:cas\t5\n", 1, "unexpected :invoke :cas"),
])
def test_bad_input_exits_65_with_file_and_line(tmp_path: Path, name: str, content: str, line: int,
                                               what: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    p = run("--model", "cas-register", str(path))
    assert p.returncode == 65
    assert len(p.stderr.strip().splitlines()) == 1
    assert p.stderr.startswith(f"{path}:{line}: ") and what in p.stderr


def test_torn_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = jsonl(tmp_path, "torn.jsonl", GOOD, '{"process": 2, "type": "inv')
    p = run("--model", "cas-register", path)
    assert p.returncode == 0 and "dropping torn last line" in p.stderr


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    good = jsonl(tmp_path, "good.jsonl", GOOD)
    for args, what in [(("--model", "nope", good), "unknown model"), ((good,), "--model is required"),
                       (("--model", "cas-register", "--init", "{oops", good), "--init must be JSON"),
                       (("--model", "multi-register", "--init", "3", good), "JSON object"),
                       (("--model", "cas-register", "--format", "xml", good), "Invalid value")]:
        p = run(*args)
        assert p.returncode == 64 and what in p.stderr, (args, p.stderr)


def test_unknown_verdict_exits_2(data_dir: Path) -> None:
    p = run("--model", "etcd", "--timeout", "0.000001", "--json", str(data_dir / "porcupine/jepsen/etcd_002.log"))
    assert p.returncode == 2 and json.loads(p.stdout)["valid"] == "unknown"


def test_other_models_go_to_their_checkers(tmp_path: Path) -> None:
    events = [{"process": 0, "type": "invoke", "f": "add", "value": 1},
              {"process": 0, "type": "ok", "f": "add", "value": 1},
              {"process": 1, "type": "invoke", "f": "read", "value": None},
              {"process": 1, "type": "ok", "f": "read", "value": [1]}]
    p = run("--model", "set", "--json", jsonl(tmp_path, "set.jsonl", events))
    assert p.returncode == 0 and json.loads(p.stdout)["valid"] is True


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    p = run(str(tmp_path))
    assert p.returncode in (64, 65, 255) and len(p.stderr.strip().splitlines()) == 1 and str(tmp_path) in p.stderr


def test_a_stored_run_is_rechecked(tmp_path: Path) -> None:
    """A real (short) run of the in-memory system, then ``check RUN_DIR`` judges its files again."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    made = subprocess.run([sys.executable, "-m", "splitbrain", "run", "memkv", "--time-limit", "2", "--store",
                           str(tmp_path), "--json"], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert made.returncode == 0, made.stderr
    run_dir = json.loads(made.stdout.strip().splitlines()[-1])["run_dir"]
    p = run("--json", run_dir)
    obj = json.loads(p.stdout)
    assert p.returncode == 0 and obj["valid"] is True and obj["checkers"]["linearizable"] is True
    assert obj["ops"] > 0


def test_missing_inputs_exit_66_naming_the_path(tmp_path: Path) -> None:
    """A typo is not malformed data: 66 and the path, for a file and for a run directory, and a
    multi-file check exits with the worst (66 over 65)."""
    p = run("--model", "register", str(tmp_path / "nope.jsonl"))
    assert p.returncode == 66 and f"{tmp_path / 'nope.jsonl'}: no such file" in p.stderr
    p = run(str(tmp_path / "store" / "nope"))
    assert p.returncode == 66 and "nope: no such file or run directory" in p.stderr and "--model" not in p.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("")
    p = run("--model", "etcd", str(empty), str(tmp_path / "gone.log"))
    assert p.returncode == 66 and "empty file" in p.stderr and "gone.log" in p.stderr


def test_json_longest_prefix_is_bounded_and_ends_where_the_search_stuck(tmp_path: Path) -> None:
    from splitbrain.checkers.synth import write_register
    from splitbrain.cli.check import MAX_PREFIX_SHOWN

    p = tmp_path / "h.jsonl"
    write_register(p, 6000, invalid=True, seed=5, info_rate=0.0)
    r = run("--model", "register", "--json", str(p))
    assert r.returncode == 1, r.stderr
    obj = json.loads(r.stdout)
    assert len(obj["longest_prefix"]) <= MAX_PREFIX_SHOWN
    assert obj.get("longest_prefix_length", len(obj["longest_prefix"])) >= len(obj["longest_prefix"])
