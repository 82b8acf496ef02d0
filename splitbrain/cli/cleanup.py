"""``splitbrain cleanup``: remove what a dead docker run left behind.

A run whose control node was killed -9 cannot tear down its containers. Every
container, network and volume the docker backend creates is labelled
``splitbrain.run=<run id>`` and ``splitbrain.control=<its control node>``, so
they can be found and removed later without touching anything else on the
machine -- and without touching a run whose control node is still alive (on a
shared host, another user's run): that takes ``--all``. Fault-filesystem mounts
(``disk`` faults) unmount themselves when their daemon dies; any that did not
are unmounted here first, sparing mounts a live run still serves
(:func:`splitbrain.backends.disk.mount.unmount_leftovers`).
"""

from __future__ import annotations

import click

from splitbrain.backends.docker.images import docker_client
from splitbrain.backends.docker.owner import remove_labelled


@click.command()
@click.option("--run", "run_id", default=None, help="only this run id (default: every dead splitbrain run)")
@click.option("--all", "live_too", is_flag=True,
              help="also remove runs whose control node is still alive (breaks them mid-run)")
def cleanup(run_id: str | None, live_too: bool) -> None:
    """Unmount dead lazyfs mounts; remove containers, networks and volumes of runs whose control node is gone."""
    from splitbrain.backends.disk.mount import unmount_leftovers
    from splitbrain.backends.faketime import release_orphans

    released = release_orphans()
    if released:
        click.echo(f"removed {released} /dev/shm objects of dead libfaketime processes")
    unmounted = unmount_leftovers(run_id, live_too)
    if unmounted:
        click.echo(f"unmounted {len(unmounted)} fault filesystems: {', '.join(unmounted)}")
    counts = remove_labelled(docker_client(), run_id, live_too)
    click.echo(f"removed {counts['containers']} containers, {counts['networks']} networks, "
               f"{counts['volumes']} volumes" + (f"; spared {counts['spared']} live run(s) (--all removes them)"
                                                 if counts["spared"] else ""))
