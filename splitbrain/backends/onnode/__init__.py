"""What runs on the nodes themselves: the programs and code shipped to every node.

A node (a container, an ssh host) runs only the Python standard library, so
anything the harness needs *on* it lives here and is stdlib-only: the delay
daemon (:mod:`splitbrain.backends.onnode.netdelay`) and, with it, splitbrain's
system code. :func:`node_files` is the one list of those files; the docker
image copies it into its build context and the ssh backend uploads it, under
the same relative paths. (The fault filesystem daemon, which runs beside a
local node, lives with the rest of the disk fault in :mod:`splitbrain.backends.disk`.)
"""

from __future__ import annotations

from pathlib import Path

#: the delay daemon (NFQUEUE), shipped as ``netdelay.py`` beside the node's code
NETDELAY = Path(__file__).resolve().parent / "netdelay.py"
#: the splitbrain package directory
PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent


def node_files() -> dict[str, Path]:
    """Relative path on the node -> source file: the stdlib-only code every node needs."""
    files = {"netdelay.py": NETDELAY, "splitbrain/__init__.py": PACKAGE_DIR / "__init__.py",
             "splitbrain/errors.py": PACKAGE_DIR / "errors.py"}  # stdlib-only; the systems' capabilities raise it
    for src in sorted((PACKAGE_DIR / "systems").rglob("*.py")):
        files[f"splitbrain/{src.relative_to(PACKAGE_DIR).as_posix()}"] = src
    return files
