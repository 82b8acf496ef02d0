"""Nodes files: which hosts the ssh backend drives, one ``host[:port]`` a line.

Blank lines and ``#`` comments are ignored. IPv6 addresses go in brackets
(``[::1]:2222``). A malformed line is bad input (exit 65) naming ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from splitbrain.errors import BadInputError, UsageError

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class Host:
    address: str
    port: int = 22

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


def parse_hosts(text: str, path: str = "<nodes>") -> list[Host]:
    hosts: list[Host] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _HOST.match(line)
        if not m:
            raise BadInputError(f"not a host[:port]: {line[:80]!r}", path, lineno)
        port = int(m.group("port") or 22)
        if not 0 < port < 65536:
            raise BadInputError(f"port {port} out of range", path, lineno)
        hosts.append(Host(m.group("v6") or m.group("name"), port))
    if not hosts:
        raise BadInputError("no hosts listed", path)
    if len(set(hosts)) != len(hosts):
        raise BadInputError("a host is listed twice", path)
    return hosts


def load_nodes_file(path: str) -> list[Host]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise UsageError(f"cannot read nodes file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BadInputError("not UTF-8 text", path) from None
    return parse_hosts(text, path)
