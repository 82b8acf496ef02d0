"""``splitbrain serve`` over real HTTP: index, filters, reports, campaigns, traversal refused."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from report_runs import HOSTILE, stale_read_run

from splitbrain.reports.serve import make_server


@pytest.fixture()
def store(tmp_path):
    s = tmp_path / "store"
    old = stale_read_run(s / "memkv-register" / "20260101T000000Z", hostile=True)
    new = stale_read_run(s / "ring-kv" / "20260102T000000Z", results=False)
    t = json.loads((new / "test.json").read_text())
    t.update(system="ring", workload="kv", start_wall_time=t["start_wall_time"] + 86400)
    (new / "test.json").write_text(json.dumps(t))
    evil = stale_read_run(s / "evil-register" / "20250101T000000Z")
    t = json.loads((evil / "test.json").read_text())
    t.update(system=HOSTILE[0], workload=HOSTILE[1], nemesis=[HOSTILE[4]], seed=HOSTILE[2])
    (evil / "test.json").write_text(json.dumps(t))
    (tmp_path / "secret.txt").write_text("SECRET")
    os.symlink(tmp_path / "secret.txt", s / "escape.txt")
    os.symlink(tmp_path, s / "memkv-register" / "outside")
    camp = s / "campaigns" / "nightly-20260103T000000Z"
    camp.mkdir(parents=True)
    (camp / "index.json").write_text(json.dumps({"name": "nightly", "exit_code": 1, "runs": [
        {"name": "memkv-register-seed7", "valid": False, "exit_code": 1, "run_dir": str(old), "seconds": 1.5,
         "system": "memkv", "workload": "register", "seed": 7, "anomaly": HOSTILE[0]},
        {"name": "gone", "valid": None, "exit_code": 255, "run_dir": None, "error": "node n1 failed"}]}))
    return s


@pytest.fixture()
def server(store):
    srv = make_server(store, "127.0.0.1", 0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
    conn.request("GET", path)  # sent as-is: no client-side normalization of .. or %2e
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, body


def test_index_lists_runs_newest_first_and_filters(server):
    status, body = get(server, "/")
    assert status == 200
    assert body.index("ring-kv/20260102T000000Z") < body.index("memkv-register/20260101T000000Z")
    assert "unchecked" in body and "invalid" in body and "nightly-20260103T000000Z" in body
    status, body = get(server, "/?verdict=invalid")
    assert "memkv-register/20260101T000000Z" in body and "ring-kv/" not in body
    status, body = get(server, "/?system=ring")
    assert "ring-kv/20260102T000000Z" in body and "memkv-register/2026" not in body
    status, body = get(server, "/?system=%3Cscript%3E")
    assert status == 200 and "<script>" not in body


def test_index_escapes_hostile_run_configs(server):
    status, body = get(server, "/")
    assert status == 200
    for s in (HOSTILE[0], HOSTILE[4], 'onerror="'):
        assert s not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_report_is_served_and_rendered_on_demand(server, store):
    run = store / "memkv-register" / "20260101T000000Z"
    assert not (run / "report.html").exists()
    status, body = get(server, "/memkv-register/20260101T000000Z/report.html")
    assert status == 200 and 'data-section="timeline"' in body
    assert (run / "report.html").exists()
    status, body = get(server, "/memkv-register/20260101T000000Z/history.jsonl")
    assert status == 200 and '"f":"write"' in body


def test_campaign_page_links_runs_and_escapes(server):
    status, body = get(server, "/campaigns/nightly-20260103T000000Z/")
    assert status == 200
    assert 'href="/memkv-register/20260101T000000Z/report.html"' in body
    assert HOSTILE[0] not in body and "&lt;script&gt;" in body
    assert "node n1 failed" in body
    assert get(server, "/campaigns/nope/")[0] == 404


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/memkv-register/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
    "/memkv-register%2f..%2f..%2fsecret.txt", "/..%5csecret.txt", "//etc/passwd", "/escape.txt",
    "/memkv-register/outside/secret.txt", "/%252e%252e/secret.txt", "/campaigns/..%2f..%2fsecret.txt",
])
def test_traversal_is_refused(server, path):
    status, body = get(server, path)
    assert status in (403, 404)
    assert "SECRET" not in body


def test_serve_cli_binds_loopback_by_default(store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain", "serve", str(store), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                assert conn.getresponse().status == 200
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        listening = [ln for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if ln.split()[1].endswith(f":{port:04X}") and ln.split()[3] == "0A"]
        assert listening and all(ln.split()[1].startswith("0100007F") for ln in listening)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_cli_rejects_missing_store(tmp_path):
    r = subprocess.run([sys.executable, "-m", "splitbrain", "serve", str(tmp_path / "nope"), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and len(r.stderr.strip().splitlines()) == 1


def test_symlink_within_the_store_is_served(store):
    inner = store / "alias"
    os.symlink(store / "memkv-register", inner)
    srv = make_server(store, "127.0.0.1", 0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        assert get(srv, "/alias/20260101T000000Z/test.json")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()
