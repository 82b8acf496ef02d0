"""``splitbrain image build``: the docker backend's node images (:mod:`splitbrain.backends.docker.images`)."""

from __future__ import annotations

import time

import click

from splitbrain.backends.docker.images import debs_tag, docker_client, ensure_node_image, prune


@click.group()
def image() -> None:
    """Node images for the docker backend (built offline, tagged by their inputs)."""


def system_debs() -> dict[str, tuple[str, ...]]:
    """Registered systems whose nodes need extra Debian packages, and the packages."""
    from splitbrain.registry import SYSTEMS
    from splitbrain.systems.capabilities import traits_of

    out: dict[str, tuple[str, ...]] = {}
    for name in SYSTEMS.names():
        try:
            debs = tuple(traits_of(SYSTEMS.get(name)).debs)
        except Exception:  # noqa: BLE001 - a broken plugin is reported by `splitbrain systems`, not here
            continue
        if debs:
            out[name] = debs
    return out


@image.command("build")
@click.option("--system", "systems", multiple=True, metavar="NAME",
              help="Also build the image of a system whose nodes need extra Debian packages "
                   "(zookeeper, redis-sentinel); a docker run builds it on first use otherwise.")
def build_cmd(systems: tuple[str, ...]) -> None:
    """Build the base (debootstrap) and node images unless they are up to date."""
    from rich.console import Console

    from splitbrain.errors import UsageError

    needs = system_debs()
    unknown = [s for s in systems if s not in needs]
    if unknown:
        raise UsageError(f"--system {unknown[0]!r}: systems with extra packages: {', '.join(sorted(needs)) or '(none)'}")
    console = Console(stderr=True)
    start = time.monotonic()
    with console.status("building images") as status:
        def say(text: str) -> None:
            if text.startswith(("I: Retrieving", "I: Validating", "I: Extracting", "I: Unpacking", "I: Configuring")):
                status.update(f"[bold]debootstrap[/] {text[3:]}")
            else:
                status.update(text[:120])
                if text.startswith(("base image", "node image", "debootstrap", "docker ", "packing")):
                    console.print(text)
        tags = {"": ensure_node_image(say)}
        for system in systems:
            tags[system] = ensure_node_image(say, needs[system])
        # only here: a run in progress may be about to use its tag; a system's image on top of
        # the current node image stays, built or not
        keep = set(tags.values()) | {debs_tag(tags[""], debs) for debs in needs.values()}
        prune(docker_client(), keep=keep)
    for system, tag in tags.items():
        console.print(f"[green]ready[/] {tag}{f' (for {system})' if system else ''}")
    console.print(f"({time.monotonic() - start:.1f}s)")
    click.echo(tags[""])
