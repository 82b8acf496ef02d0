"""Readers of foreign formats: the semantics each origin gives its ops, and bad input.

Every malformed input is either read (a torn last line is dropped with a warning)
or rejected with BadInputError naming the file and the line at fault.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.errors import BadInputError
from splitbrain.formats import detect_format, read_history
from splitbrain.formats.edn import read_edn
from splitbrain.formats.porcupine import read_porcupine_kv

ETCD = "INFO  jepsen.util - {}\t:{}\t:{}\t{}\n"


def etcd(*lines: tuple[int, str, str, str]) -> str:
    return "".join(ETCD.format(*ln) for ln in lines)


def kv(proc: int, typ: str, f: str, key: str, value: str | None) -> str:
    v = "nil" if value is None else f'"{value}"'
    return f"{{:process {proc}, :type :{typ}, :f :{f}, :key \"{key}\", :value {v}}}\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return str(p)


# --------------------------------------------------------------------------- semantics


def test_etcd_log_keeps_porcupine_semantics(tmp_path: Path) -> None:
    path = write(tmp_path, "e.log", etcd((0, "invoke", "cas", "[1 2]"), (0, "fail", "cas", "[1 2]"),
                                         (1, "invoke", "read", "nil"), (1, "fail", "read", ":timed-out"),
                                         (2, "invoke", "write", "3"), (2, "info", "write", ":timed-out"),
                                         (3, "invoke", "read", "nil"), (3, "ok", "read", "nil")))
    assert detect_format(path) == "porcupine-etcd"
    h = read_history(path)
    assert [(o.type, o.f, o.value, o.error) for o in h.ops] == [
        ("invoke", "cas", [1, 2], None), ("fail", "cas", [1, 2], None),
        ("invoke", "read", None, None), ("fail", "read", None, "timed-out"),
        ("invoke", "write", 3, None), ("info", "write", None, "timed-out"),
        ("invoke", "read", None, None), ("ok", "read", None, None)]
    assert getattr(h, "lines") == list(range(1, 9))  # noqa: B009 - not a declared History attribute


def test_kv_log_fast_path_and_edn_fallback_agree(tmp_path: Path) -> None:
    fast = kv(0, "invoke", "append", "1", "x 0 0 y") + kv(0, "ok", "append", "1", "x 0 0 y")
    odd = ('{:process 0 :type :invoke :f :append :key "1" :value "x 0 0 y"}\n'
           '{:value "x 0 0 y", :key "1", :f :append, :type :ok, :process 0}\n')
    a = read_porcupine_kv(write(tmp_path, "a.txt", fast))
    b = read_porcupine_kv(write(tmp_path, "b.txt", odd))
    assert [o.to_json() for o in a.ops] == [o.to_json() for o in b.ops]
    assert a.ops[0].key == "1" and a.ops[1].value == "x 0 0 y"


def test_edn_reads_vectors_lists_streams_comments_and_nemesis(tmp_path: Path) -> None:
    text = ('; a comment\n({:process 0, :type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]]}\n'
            ' {:process :nemesis :type :info :f :start :value nil} ; torn apart\n'
            ' {:process 0  :type :ok, :f :txn,\n  :value [[:read :x 0] [:write :y 2]], :time 99})')
    h = read_edn(write(tmp_path, "h.edn", text))
    assert [o.process for o in h.ops] == [0, "nemesis", 0]
    assert h.ops[2].value == [["read", "x", 0], ["write", "y", 2]] and h.ops[2].time == 99
    assert getattr(h, "lines") == [2, 3, 4]  # noqa: B009 - not a declared History attribute
    stream = read_edn(write(tmp_path, "s.edn", "{:process 1, :type :invoke, :f :acquire}\n"
                                               "{:process 1, :type :fail, :f :acquire, :error :held}\n"))
    assert [(o.type, o.error) for o in stream.ops] == [("invoke", None), ("fail", "held")]


# --------------------------------------------------------------------------- bad input

BAD_ETCD = {
    "empty": ("", 1, "empty"),
    "orphan completion": (etcd((0, "ok", "read", "3")), 1, "no pending invocation"),
    "invokes twice": (etcd((0, "invoke", "read", "nil"), (0, "invoke", "write", "1")), 2, "still pending"),
    "reuse after info": (etcd((0, "invoke", "write", "1"), (0, "info", "write", ":timed-out"),
                              (0, "invoke", "read", "nil")), 3, "reused after an info"),
    "unknown type": (etcd((0, "bogus", "read", "nil")), 1, ":bogus"),
    "wrong value shape": (etcd((0, "invoke", "cas", "5")), 1, "unexpected :invoke :cas"),
    "not a log line": (etcd((0, "invoke", "read", "nil")) + "hello\n", 2, "not a Jepsen etcd log line"),
    "completion f differs": (etcd((0, "invoke", "read", "nil"), (0, "ok", "write", "1")), 2, "does not match"),
}


@pytest.mark.parametrize("name", list(BAD_ETCD))
def test_bad_etcd_logs_name_the_line(tmp_path: Path, name: str) -> None:
    text, line, what = BAD_ETCD[name]
    path = write(tmp_path, "bad.log", text)
    with pytest.raises(BadInputError, match=what) as e:
        read_history(path, "porcupine-etcd")
    assert (e.value.path, e.value.line) == (path, line)


BAD_KV = {
    "orphan completion": (kv(0, "ok", "get", "1", ""), 1, "no pending"),
    "invokes twice": (kv(0, "invoke", "get", "1", None) * 2, 2, "still pending"),
    "unknown type": (kv(0, "invoke", "get", "1", None).replace(":invoke", ":crash"), 1, ":type"),
    "unknown f": (kv(0, "invoke", "get", "1", None).replace(":get", ":del"), 1, ":f"),
    "value shape": ('{:process 0, :type :invoke, :f :put, :key "1", :value 7}\n', 1, ":value"),
    "nil put": (kv(0, "invoke", "put", "1", None), 1, "needs a string"),
    "not edn": ("{:process 0, :type\n" + kv(0, "invoke", "get", "1", None), 1, "EDN"),
}


@pytest.mark.parametrize("name", list(BAD_KV))
def test_bad_kv_logs_name_the_line(tmp_path: Path, name: str) -> None:
    text, line, what = BAD_KV[name]
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(BadInputError, match=what) as e:
        read_history(path, "porcupine-kv")
    assert (e.value.path, e.value.line) == (path, line)


BAD_EDN = {
    "orphan completion": ("[{:process 0, :type :ok, :f :read, :value 1}]", 1, "no pending"),
    "invokes twice": ("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :invoke, :f :read}]", 2,
                      "still pending"),
    "unknown type": ("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :done, :f :read}]", 2,
                     ":type"),
    "odd map": ("[{:process 0, :type :invoke, :f :read}\n {:process 0 :type}]", 2, "EDN"),
    "not a map": ("[{:process 0, :type :invoke, :f :read}\n 42]", 2, "op map"),
    "bad process": ('[{:process "p", :type :invoke, :f :read}]', 1, ":process"),
    "unbalanced": ("[{:process 0, :type :invoke, :f :read}}]", 1, "unbalanced"),
    "unknown tag": ("[{:process 0, :type :invoke, :f :read, :value #foo 1}]", 1, "EDN"),
}


@pytest.mark.parametrize("name", list(BAD_EDN))
def test_bad_edn_names_the_line(tmp_path: Path, name: str) -> None:
    text, line, what = BAD_EDN[name]
    path = write(tmp_path, "bad.edn", text)
    with pytest.raises(BadInputError, match=what) as e:
        read_history(path, "edn")
    assert (e.value.path, e.value.line) == (path, line)


@pytest.mark.parametrize("fmt,text", [
    ("porcupine-etcd", etcd((0, "invoke", "read", "nil"), (0, "ok", "read", "1")) + "INFO  jepsen.util - 1\t:inv"),
    ("porcupine-kv", kv(0, "invoke", "get", "1", None) + kv(0, "ok", "get", "1", "") + '{:process 1, :type :inv'),
    ("edn", "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok, :f :read, :value 1}\n {:process 1, :ty"),
])
def test_torn_last_line_is_dropped_with_a_warning(tmp_path: Path, fmt: str, text: str) -> None:
    path = write(tmp_path, "torn", text)
    with pytest.warns(UserWarning, match=r"torn:3: dropping torn last"):
        h = read_history(path, fmt)
    assert len(h.ops) == 2


@pytest.mark.parametrize("fmt", ["auto", "porcupine-etcd", "porcupine-kv", "edn", "jsonl"])
@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02garbage", b"\xff\xfe\xfd not utf-8\n", b"   \n\n"])
def test_empty_and_binary_files_are_bad_input(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = write(tmp_path, "junk", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            h = read_history(path, fmt)
        except BadInputError as e:
            assert e.path == path
            return
    assert len(h) == 0  # whitespace only, read as an empty history by an explicit reader


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       fmt=st.sampled_from(["auto", "porcupine-etcd", "porcupine-kv", "edn"]))
def test_fuzz_readers_never_raise_anything_else(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                                fmt: str) -> None:
    path = write(tmp_path_factory.mktemp("fz"), "fz", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_history(path, fmt)
        except BadInputError as e:
            assert e.path == path


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, "a", '{"process":0,"type":"invoke","f":"read"}\n')) == "jsonl"
    assert detect_format(write(tmp_path, "b", "; hi\n[{:process 0}]")) == "edn"
    assert detect_format(write(tmp_path, "c", kv(0, "invoke", "get", "1", None))) == "porcupine-kv"
    with pytest.raises(BadInputError, match="cannot tell"):
        detect_format(write(tmp_path, "d", "hello world\n"))
