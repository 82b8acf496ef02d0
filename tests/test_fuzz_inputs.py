"""Hostile and malformed input: every reader either reads or rejects with BadInputError (exit 65,
naming file:line) -- never another exception. Hypothesis drives the inputs."""

import json
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.backends.ssh.hosts import parse_hosts
from splitbrain.errors import BadInputError, UsageError
from splitbrain.harness.campaign import load_toml
from splitbrain.history import parse_jsonl, read_jsonl

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                              max_size=3), max_leaves=8)
op_like = st.fixed_dictionaries(
    {},
    optional={
        "process": st.one_of(st.integers(-2, 4), st.just("nemesis"), json_values),
        "type": st.sampled_from(["invoke", "ok", "fail", "info", "bogus", ""]) | json_values,
        "f": st.sampled_from(["read", "write", "cas"]) | json_values,
        "value": json_values,
        "time": st.integers(-5, 10**12) | json_values,
        "index": json_values,
    },
)


def _read_or_reject(text: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = parse_jsonl(text, "fuzz.jsonl")
        h.calls()
    except BadInputError as e:
        assert "fuzz.jsonl" in str(e)


@FUZZ
@given(st.lists(op_like, max_size=12))
def test_jsonl_structured_fuzz(ops):
    _read_or_reject("".join(json.dumps(o) + "\n" for o in ops))


@FUZZ
@given(st.text(max_size=300))
def test_jsonl_text_fuzz(text):
    _read_or_reject(text)


@FUZZ
@given(st.binary(max_size=300))
def test_jsonl_binary_fuzz(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fz") / "h.jsonl"
    p.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_jsonl(p).calls()
    except BadInputError as e:
        assert "h.jsonl" in str(e)


@FUZZ
@given(st.text(max_size=200))
def test_nodes_file_fuzz(text):
    try:
        hosts = parse_hosts(text, "nodes.txt")
        assert hosts
    except BadInputError as e:
        assert "nodes.txt" in str(e)


@FUZZ
@given(st.text(max_size=200) | st.dictionaries(st.sampled_from(["systems", "seeds", "nemesis", "time_limit", "x"]),
                                                 st.integers() | st.text(max_size=5) | st.lists(st.text(max_size=4)),
                                                 max_size=4).map(lambda d: "\n".join(f"{k} = {json.dumps(v)}"
                                                                                      for k, v in d.items())))
def test_campaign_toml_fuzz(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fz") / "c.toml"
    p.write_text(text)
    try:
        load_toml(str(p))
    except (BadInputError, UsageError) as e:
        assert "c.toml" in str(e)
