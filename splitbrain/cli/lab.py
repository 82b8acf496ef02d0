"""``splitbrain lab up|down``: local sshd hosts for the ssh backend (:mod:`splitbrain.backends.docker.lab`)."""

from __future__ import annotations

import json

import click

from splitbrain.backends.docker.lab import DEFAULT_DIR, lab_down, lab_up


@click.group()
def lab() -> None:
    """Local SSH-reachable test hosts (containers running sshd) for the ssh backend."""


@lab.command("up")
@click.option("--nodes", default=5, show_default=True, type=int)
@click.option("--dir", "state_dir", default=DEFAULT_DIR, show_default=True, help="Where the key and files go.")
@click.option("--json", "as_json", is_flag=True)
def up(nodes: int, state_dir: str, as_json: bool) -> None:
    """Start N sshd hosts and print a nodes file, key and known_hosts for `--backend ssh`."""
    info = lab_up(nodes, state_dir)
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"lab: {nodes} hosts up")
        for k, v in info.items():
            click.echo(f"  {k}: {v}")
        click.echo(f"try: splitbrain run raft --backend ssh --nodes {nodes} --nodes-file {info['nodes_file']} "
                   f"--ssh-key {info['ssh_key']} --known-hosts {info['known_hosts']}")


@lab.command("down")
@click.option("--dir", "state_dir", default=DEFAULT_DIR, show_default=True)
@click.option("--all", "every_lab", is_flag=True, help="Remove every lab on this Docker engine, not only this one.")
def down(state_dir: str, every_lab: bool) -> None:
    """Remove the lab made with the same --dir (its hosts, network, key and files)."""
    lab_down(state_dir, every_lab=every_lab)
