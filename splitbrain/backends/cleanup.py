"""``splitbrain cleanup``: remove what a dead docker run left behind.

A run whose control node was killed -9 cannot tear down its containers. Every
container, network and volume the docker backend creates is labelled
``splitbrain.run=<run id>``, so they can be found and removed later without
touching anything else on the machine.
"""

from __future__ import annotations

import click

from splitbrain.backends.docker import remove_labelled
from splitbrain.backends.images import docker_client


@click.command()
@click.option("--run", "run_id", default=None, help="only this run id (default: every splitbrain run)")
def cleanup(run_id: str | None) -> None:
    """Remove containers, networks and volumes labelled splitbrain.run."""
    counts = remove_labelled(docker_client(), run_id)
    click.echo(f"removed {counts['containers']} containers, {counts['networks']} networks, "
               f"{counts['volumes']} volumes")
