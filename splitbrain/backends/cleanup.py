"""``splitbrain cleanup``: remove what a dead run left behind.

A run whose control node was killed -9 cannot tear down its containers. Every
container, network and volume the docker backend creates is labelled
``splitbrain.run=<run id>``, so they can be found and removed later without
touching anything else on the machine. Fault-filesystem mounts (``disk``
faults) unmount themselves when their daemon dies; any that did not are
unmounted here first, sparing mounts a live run still serves
(:func:`splitbrain.backends.diskmount.unmount_leftovers`).
"""

from __future__ import annotations

import click

from splitbrain.backends.docker import remove_labelled
from splitbrain.backends.images import docker_client


@click.command()
@click.option("--run", "run_id", default=None, help="only this run id (default: every splitbrain run)")
def cleanup(run_id: str | None) -> None:
    """Unmount dead lazyfs mounts; remove containers, networks and volumes labelled splitbrain.run."""
    from splitbrain.backends.diskmount import unmount_leftovers

    unmounted = unmount_leftovers(run_id)
    if unmounted:
        click.echo(f"unmounted {len(unmounted)} fault filesystems: {', '.join(unmounted)}")
    counts = remove_labelled(docker_client(), run_id)
    click.echo(f"removed {counts['containers']} containers, {counts['networks']} networks, "
               f"{counts['volumes']} volumes")
