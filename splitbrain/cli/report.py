"""``splitbrain report RUN_DIR`` and ``splitbrain serve [STORE]``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from splitbrain.errors import MissingInputError, UsageError


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--shrink-budget", "shrink_budget_s", type=float, default=20.0, show_default=True,
              help="Seconds allowed for shrinking a linearizability anomaly to its minimal core.")
def report(run_dir: Path, shrink_budget_s: float) -> None:
    """Re-render RUN_DIR/report.html from a stored run (also one cut short by a crash)."""
    from splitbrain.checkers.memory import MemoryCap, MemoryCapReached
    from splitbrain.harness.report import minimal_report
    from splitbrain.reports.html import write_report

    if not run_dir.is_dir():
        raise (MissingInputError(f"{run_dir}: no such run directory") if not os.path.exists(run_dir)
               else UsageError(f"not a run directory: {run_dir}"))
    try:
        with MemoryCap.default().enforced({"phase": "rendering the report"}):
            path = write_report(run_dir, shrink_budget_s=shrink_budget_s)
    except MemoryCapReached as e:  # the page a person opens first must exist, if plainer
        click.echo(f"{run_dir}: full report not rendered: {e}; wrote the minimal one", err=True)
        path = minimal_report(run_dir, note=str(e))
    click.echo(str(path))


@click.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path("store"), required=False)
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; the default is local only.")
def serve(store: Path, port: int, host: str) -> None:
    """Browse the runs and campaigns in STORE (default ./store) over HTTP."""
    from splitbrain.reports.serve import make_server

    server = make_server(store, host, port)
    h, p = server.server_address[:2]
    h = h.decode() if isinstance(h, bytes) else h
    click.echo(f"serving {store} at http://{h}:{p}/ (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
