import math

import pytest

from splitbrain.errors import BadInputError
from splitbrain.history import History, HistoryWriter, Op, parse_jsonl, read_jsonl


def test_writer_reader_roundtrip(tmp_path):
    p = tmp_path / "h.jsonl"
    with HistoryWriter(p) as w:
        w.write(Op(0, 0, "invoke", "write", 1, time=10, key="k"))
        w.write(Op(0, 0, "ok", "write", 1, time=20, key="k", node="n1"))
        w.write(Op(0, 1, "invoke", "read", None, time=30))
    h = read_jsonl(p)
    assert [o.index for o in h] == [0, 1, 2]
    calls = h.calls()
    assert calls[0].type == "ok" and calls[0].ret_time == 20 and calls[0].node == "n1"
    assert calls[1].type == "info" and math.isinf(calls[1].ret_time)


def test_torn_last_line_dropped(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"process":0,"type":"invoke","f":"read","value":null}\n{"process":0,"ty')
    with pytest.warns(UserWarning, match="torn"):
        h = read_jsonl(p)
    assert len(h) == 1


def test_garbage_in_middle_is_rejected_with_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"process":0,"type":"invoke","f":"read"}\nnot json\n{"process":0,"type":"ok","f":"read"}\n')
    with pytest.raises(BadInputError, match=r"h.jsonl:2:"):
        read_jsonl(p)


@pytest.mark.parametrize(
    "text,msg",
    [
        ('{"process":0,"type":"ok","f":"read"}\n', "no pending invocation"),
        ('{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"invoke","f":"read"}\n', "still pending"),
        ('{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"info","f":"read"}\n'
         '{"process":0,"type":"invoke","f":"read"}\n', "reused"),
    ],
)
def test_structural_errors(text, msg):
    with pytest.raises(BadInputError, match=msg):
        parse_jsonl(text).calls()


def test_bad_type_rejected():
    with pytest.raises(BadInputError, match="type"):
        parse_jsonl('{"process":0,"type":"done","f":"read"}\n')


def test_fail_and_nemesis():
    h = History([
        Op(0, "nemesis", "info", "start-partition", {"grudge": {}}),
        Op(1, 3, "invoke", "cas", [1, 2]),
        Op(2, 3, "fail", "cas", [1, 2], error="cas-mismatch"),
    ])
    calls = h.calls()
    assert len(calls) == 1 and calls[0].type == "fail" and calls[0].error == "cas-mismatch"
