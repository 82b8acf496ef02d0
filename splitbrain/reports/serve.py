"""``splitbrain serve``: browse a store's runs and campaigns over HTTP.

Only files inside the store are ever served. A request path is refused (403)
when its raw form holds ``..``, an encoded dot or slash (``%2e``, ``%2f``,
``%5c``), a backslash or NUL, or is absolute once decoded; what remains is
resolved (following symlinks) and must still lie under the resolved store, so
a symlink pointing out of it is refused too. The server binds 127.0.0.1
unless told otherwise: a store holds whatever the tested systems logged.
"""

from __future__ import annotations

import json
import mimetypes
import re
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2

from splitbrain.errors import UsageError
from splitbrain.results import RunResult

_HERE = Path(__file__).parent
_BAD_RAW = re.compile(r"\.\.|%2e|%2f|%5c|%00|\\", re.IGNORECASE)
_TEXT = {".jsonl", ".log", ".edn", ".txt", ".tsv"}
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def _verdict(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown") if valid is not None else "unchecked"


def find_runs(store: Path) -> list[dict[str, Any]]:
    """Every run directory ``store/<system>-<workload>/<stamp>/``, newest first."""
    runs = []
    for group in store.iterdir() if store.is_dir() else []:
        if group.name in ("campaigns", "latest") or group.is_symlink() or not group.is_dir():
            continue
        for d in group.iterdir():
            if d.is_symlink() or not d.is_dir():
                continue
            if not (d / "test.json").exists() and not (d / "history.jsonl").exists():
                continue
            test = _load(d / "test.json") or {}
            results = RunResult.read(d)
            test = test if isinstance(test, dict) else {}
            nemesis = test.get("nemesis")
            runs.append({
                "path": d.relative_to(store).as_posix(),
                "stamp": d.name,
                "when": test.get("start_wall_time") or d.stat().st_mtime,
                "system": str(test.get("system", group.name.split("-")[0])),
                "workload": str(test.get("workload", "")),
                "nemesis": ", ".join(map(str, nemesis)) if isinstance(nemesis, list) else str(nemesis or ""),
                "seed": str(test.get("seed", "")),
                "verdict": _verdict(results.valid if results else None),
                "ops": results.ops if results else "",
            })
    runs.sort(key=lambda r: (float(r["when"]) if isinstance(r["when"], (int, float)) else 0.0, r["stamp"]),
              reverse=True)
    return runs


def find_campaigns(store: Path) -> list[dict[str, Any]]:
    out = []
    base = store / "campaigns"
    for d in sorted(base.iterdir(), reverse=True) if base.is_dir() else []:
        if d.is_dir() and not d.is_symlink() and (d / "index.json").is_file():
            idx = _load(d / "index.json")
            runs = idx.get("runs") if isinstance(idx, dict) else None
            out.append({"name": d.name, "runs": len(runs) if isinstance(runs, list) else 0,
                        "exit_code": idx.get("exit_code", "") if isinstance(idx, dict) else ""})
    return out


class StoreHandler(BaseHTTPRequestHandler):
    store: Path  # resolved store root, set by make_server
    server_version = "splitbrain"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, why: str) -> None:
        self._send(status, f"{status} {why}\n".encode(), "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        raw = self.path
        if raw.startswith("//") or not raw.startswith("/"):
            return self._error(HTTPStatus.FORBIDDEN, "forbidden")
        split = urllib.parse.urlsplit(raw)
        if _BAD_RAW.search(split.path):
            return self._error(HTTPStatus.FORBIDDEN, "forbidden")
        path = urllib.parse.unquote(split.path)
        if not path.startswith("/") or path.startswith("//") or "\x00" in path:
            return self._error(HTTPStatus.FORBIDDEN, "forbidden")
        query = urllib.parse.parse_qs(split.query)
        if path in ("/", "/index.html"):
            return self._index(query)
        m = re.fullmatch(r"/campaigns/([^/]+)/?", path)
        if m:
            return self._campaign(m.group(1))
        target = self._inside(path.lstrip("/"))
        if target is None:
            return self._error(HTTPStatus.FORBIDDEN, "forbidden")
        if target.is_dir():
            if not (target / "test.json").exists() and not (target / "history.jsonl").exists():
                return self._error(HTTPStatus.NOT_FOUND, "not found")
            target = target / "report.html"
        if target.name == "report.html" and not target.exists() and target.parent.is_dir():
            try:
                from splitbrain.reports.html import write_report

                write_report(target.parent)
            except Exception:  # noqa: BLE001 - a run we cannot render is a 404, not a dead server
                return self._error(HTTPStatus.NOT_FOUND, "no report for this run")
        if not target.is_file():
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in _TEXT or ctype == "application/json":
            ctype = "text/plain"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        try:
            body = target.read_bytes()
        except OSError:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        self._send(HTTPStatus.OK, body, ctype)

    def _inside(self, rel: str) -> Path | None:
        """The resolved path of ``rel`` if it lies within the store, else None."""
        if Path(rel).is_absolute():
            return None
        try:
            p = (self.store / rel).resolve()
        except (OSError, RuntimeError):
            return None
        return p if p == self.store or p.is_relative_to(self.store) else None

    def _index(self, query: dict[str, list[str]]) -> None:
        runs = find_runs(self.store)
        systems = sorted({r["system"] for r in runs})
        verdict = (query.get("verdict") or [""])[0]
        system = (query.get("system") or [""])[0]
        shown = [r for r in runs if (not verdict or r["verdict"] == verdict) and (not system or r["system"] == system)]
        page = _ENV.get_template("index.html.j2").render(
            store=str(self.store), runs=shown, total=len(runs), systems=systems, verdict=verdict, system=system,
            verdicts=["valid", "invalid", "unknown", "unchecked"], campaigns=find_campaigns(self.store),
            quote=lambda s: urllib.parse.quote(s, safe="/"))
        self._send(HTTPStatus.OK, page.encode("utf-8"))

    def _campaign(self, name: str) -> None:
        d = self._inside(f"campaigns/{name}")
        idx = _load(d / "index.json") if d is not None and d.is_dir() else None
        if not isinstance(idx, dict):
            return self._error(HTTPStatus.NOT_FOUND, "no such campaign")
        rows = []
        for r in idx.get("runs") or []:
            if not isinstance(r, dict):
                continue
            link = None
            rd = r.get("run_dir")
            rel = r.get("run_path")  # inside this store (a merged campaign's run dirs): no guess from the cwd
            if isinstance(rel, str) and rel and (self.store / rel / "report.html").resolve().is_relative_to(self.store):
                link = "/" + urllib.parse.quote(rel) + "/report.html"
            elif isinstance(rd, str) and rd:
                p = Path(rd)
                p = p if p.is_absolute() else Path.cwd() / p
                try:
                    rp = p.resolve()
                    if rp.is_relative_to(self.store):
                        link = "/" + urllib.parse.quote(rp.relative_to(self.store).as_posix()) + "/report.html"
                except (OSError, RuntimeError):
                    link = None
            rows.append({"name": str(r.get("name", "")), "verdict": _verdict(r.get("valid")),
                         "exit_code": str(r.get("exit_code", "")), "seconds": str(r.get("seconds", "")),
                         "system": str(r.get("system", "")), "workload": str(r.get("workload", "")),
                         "nemesis": str(r.get("nemesis", "")), "seed": str(r.get("seed", "")),
                         "anomaly": str(r.get("anomaly") or r.get("error") or ""), "link": link})
        page = _ENV.get_template("campaign.html.j2").render(name=str(idx.get("name", name)), dir=name, rows=rows,
                                                           exit_code=str(idx.get("exit_code", "")))
        self._send(HTTPStatus.OK, page.encode("utf-8"))


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    root = Path(store)
    if not root.is_dir():
        raise UsageError(f"no such store directory: {store}")
    handler = type("Handler", (StoreHandler,), {"store": root.resolve()})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    server.daemon_threads = True
    return server
