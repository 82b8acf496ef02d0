"""The verdict of a ``run --json`` child is its last JSON object on stdout."""

from splitbrain.harness.runjson import last_json_object


def test_last_object_wins_and_noise_is_skipped() -> None:
    out = '{"valid": true}\nprogress 50%\n{"run_dir": "d", "valid": false}\n[1, 2]\n{not json\n'
    assert last_json_object(out) == {"run_dir": "d", "valid": False}


def test_no_verdict_printed_is_empty() -> None:
    assert last_json_object("") == {}
    assert last_json_object("Traceback (most recent call last):\n  boom\n") == {}
