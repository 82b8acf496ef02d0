"""Node images, built offline: ``splitbrain image build``.

No registry is reachable on the machines this runs on, so nothing is pulled.
The base image is a ``debootstrap --variant=minbase`` of Debian bookworm
(python3, iproute2, iptables, procps, openssh-server) fetched from this
machine's own Debian mirror, tarred and ``docker import``-ed. The node image
is ``image_files/Dockerfile`` on top of it, adding splitbrain's stdlib-only
system code, the delay daemon and libfaketime's bundled library. The same
Dockerfile builds ``FROM debian:bookworm-slim`` where a registry exists.

A system that needs more of Debian on its nodes (ZooKeeper's JVM, Redis)
declares the packages (``SystemTraits.debs``); its nodes run on the node image
plus one layer that apt-installs them from the same Debian mirror, tagged by
the node image and the package list, so the plain image stays small and other
systems' runs never wait for a JVM.

Both images are tagged by a hash of their inputs (debootstrap parameters for
the base; Dockerfile, base tag and every copied file for the node image), so a
build is a no-op until an input changes, and debootstrap's minutes are paid
once per machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.errors import BackendUnavailable, HarnessError

BASE_REPO = "splitbrain-base"
NODE_REPO = "splitbrain-node"
SUITE = "bookworm"
PACKAGES = ("python3", "iproute2", "iptables", "procps", "openssh-server")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_FILES = Path(__file__).resolve().parent / "image_files"

Say = Callable[[str], None]


def docker_client(base_url: str | None = None) -> Any:
    """A pinged Docker SDK client, or BackendUnavailable (exit 64) naming the way out.

    ``base_url`` (``--backend-opt docker_host=...``) names the engine as ``DOCKER_HOST`` does
    (``unix://``, ``tcp://``, ``ssh://``); without it the SDK reads ``DOCKER_HOST`` itself."""
    where = base_url or os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        import docker

        client = docker.DockerClient(base_url=base_url, timeout=300) if base_url else docker.from_env(timeout=300)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - any failure here means "no engine"
        raise BackendUnavailable(
            f"no Docker engine reachable at {where} ({type(e).__name__}); start dockerd or use --backend local") from None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses (the one that is reachable)."""
    candidates: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("URIs:"):
                candidates += line.split()[1:]
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb":
                    candidates.append(next(p for p in parts[1:] if not p.startswith("[")))
    for uri in candidates:
        if "debian" in uri and "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def base_params() -> dict[str, Any]:
    return {"suite": SUITE, "variant": "minbase", "include": list(PACKAGES), "mirror": debian_mirror(),
            "arch": os.uname().machine}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def base_tag() -> str:
    return f"{BASE_REPO}:{_digest(json.dumps(base_params(), sort_keys=True).encode())}"


def _context_files() -> dict[str, Path]:
    """Build-context path -> source file: everything the Dockerfile copies."""
    from splitbrain.backends import faketime, onnode

    return {"Dockerfile": _FILES / "Dockerfile", "libfaketime.so.1": Path(faketime.library_path()),
            **onnode.node_files()}


def node_tag(base: str | None = None) -> str:
    h = hashlib.sha256((base or base_tag()).encode())
    for name, src in sorted(_context_files().items()):
        h.update(name.encode() + b"\0" + src.read_bytes() + b"\0")
    return f"{NODE_REPO}:{h.hexdigest()[:16]}"


def _exists(client: Any, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base(client: Any, say: Say) -> str:
    tag = base_tag()
    if _exists(client, tag):
        say(f"base image {tag} is up to date")
        return tag
    if shutil.which("debootstrap") is None:
        raise BackendUnavailable("building the base image needs debootstrap (apt-get install debootstrap)")
    p = base_params()
    with tempfile.TemporaryDirectory(prefix="splitbrain-base-", dir="/var/tmp") as tmp:
        root = os.path.join(tmp, "rootfs")
        cmd = ["debootstrap", f"--variant={p['variant']}", f"--include={','.join(p['include'])}",
               p["suite"], root, p["mirror"]]
        say("debootstrap " + " ".join(cmd[1:]))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            say(line.rstrip())
        if proc.wait() != 0:
            raise HarnessError("debootstrap failed:\n" + "\n".join(tail))
        _import_rootfs(client, root, tag, say)
    return tag


def _import_rootfs(client: Any, root: str, tag: str, say: Say) -> None:
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in Path(root, junk).glob("*"):
            if f.is_file():
                f.unlink()
    tar_path = root.rstrip("/") + ".tar"
    say(f"packing {root}")
    subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tar_path, "."], check=True)
    say(f"docker import as {tag}")
    repo, _, version = tag.partition(":")
    client.api.import_image_from_file(tar_path, repository=repo, tag=version,
                                      changes=["LABEL splitbrain.image=base", 'CMD ["/bin/bash"]'])
    os.unlink(tar_path)
    if not _exists(client, tag):
        raise HarnessError(f"docker import did not produce {tag}")


def build_node(client: Any, base: str, say: Say) -> str:
    tag = node_tag(base)
    if _exists(client, tag):
        say(f"node image {tag} is up to date")
        return tag
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, src in sorted(_context_files().items()):
            tar.add(str(src), arcname=name)
    buf.seek(0)
    say(f"docker build {tag} FROM {base}")
    _docker_build(client, buf, tag, {"BASE": base}, say)
    return tag


def _docker_build(client: Any, context: io.BytesIO, tag: str, buildargs: dict[str, str], say: Say) -> None:
    try:
        for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, buildargs=buildargs,
                                      rm=True, forcerm=True, decode=True, labels={"splitbrain.image": "node"}):
            if "error" in chunk:
                raise HarnessError(f"docker build failed: {chunk['error'].strip()}")
            text = (chunk.get("stream") or "").strip()
            if text:
                say(text)
    except HarnessError:
        raise
    except Exception as e:  # noqa: BLE001 - SDK/API errors become one line
        raise HarnessError(f"docker build failed: {e}") from None


def ensure_node_image(say: Say | None = None, debs: tuple[str, ...] = (), client: Any = None) -> str:
    """The node image's tag (with ``debs`` installed too), building whatever is missing first
    (seconds when warm) on ``client``'s engine (a remote engine builds its own)."""
    client = client or docker_client()
    base = build_base(client, say or (lambda _s: None))
    node = build_node(client, base, say or (lambda _s: None))
    return build_with_debs(client, node, tuple(debs), say or (lambda _s: None)) if debs else node


def debs_tag(node: str, debs: tuple[str, ...]) -> str:
    return f"{NODE_REPO}:{_digest((node + chr(0) + ' '.join(sorted(set(debs)))).encode())}"


def build_with_debs(client: Any, node: str, debs: tuple[str, ...], say: Say) -> str:
    """The node image plus Debian packages a system needs, apt-installed from the base's mirror."""
    tag = debs_tag(node, debs)
    if _exists(client, tag):
        say(f"node image {tag} (+{' '.join(sorted(set(debs)))}) is up to date")
        return tag
    dockerfile = (f"FROM {node}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  f"--no-install-recommends {' '.join(sorted(set(debs)))} >/dev/null && rm -rf /var/lib/apt/lists/*\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile.encode())
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    buf.seek(0)
    say(f"docker build {tag} FROM {node} + {' '.join(sorted(set(debs)))}")
    _docker_build(client, buf, tag, {}, say)
    return tag


def prune(client: Any, keep: set[str]) -> None:
    """Drop node images of older inputs (each code change to the systems makes one, and a layer of
    extra packages on each); images that a container still uses stay."""
    import docker

    for img in client.images.list(name=NODE_REPO):
        if keep & set(img.tags):
            continue
        for t in img.tags:
            try:
                client.images.remove(t, noprune=False)
            except docker.errors.APIError:
                pass  # a container (a running test, the lab) still uses it
