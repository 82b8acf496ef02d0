"""The Linux network faults docker and ssh share, run for real in a network namespace this test makes.

Each command from :mod:`splitbrain.backends.linux.net` runs under ``unshare -n``
(a fresh, empty network namespace: nothing outside it is touched), and what the
kernel then holds is read back with the same probe the backends verify with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.backends.linux import net
from splitbrain.backends.onnode import NETDELAY

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables"),
                                reason="needs root, unshare and iptables")


#: where the delay daemon is inside the namespace: its own ``/tmp`` hides the host's, and with it a
#: checkout (and its venv, and the working directory) under /tmp, so the daemon is copied in, probes use
#: the base python, and the script runs from /
DAEMON = "/tmp/netdelay.py"
PYTHON = os.path.realpath(sys.executable)


def in_netns(*commands: str) -> str:
    """Run ``commands`` one after another in one fresh network namespace with its own ``/tmp`` (the
    delay daemons' files); the last one's stdout. Each must succeed (a failing fault command is a
    failing test); the delay daemons are stopped before the namespace goes, so nothing outlives it."""
    steps = "".join(f"( {c} ) >/dev/null || exit 9; " for c in commands[:-1])
    copy = f"cat > {DAEMON} <<'SPLITBRAIN_NETDELAY_EOF'\n{NETDELAY.read_text()}\nSPLITBRAIN_NETDELAY_EOF\n"
    script = (f"mount -t tmpfs tmpfs /tmp && cd / && ip link set lo up || exit 8\n{copy}{steps}"
              f"out=$( {commands[-1]} ); {net.stop_delay_daemons()}; printf '%s\\n' \"$out\"")
    r = subprocess.run(["unshare", "-n", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_partition_drops_exactly_the_grudge_and_keeps_the_ssh_port():
    state, rest = net.parse_probe(in_netns(net.partition(["10.0.0.2", "10.0.0.3"], keep_port=22), net.PROBE))
    assert state.drop_from == ["10.0.0.2", "10.0.0.3"] and state.chains_ok and rest == []
    hooked = in_netns(net.partition(["10.0.0.2"]), "iptables -w -S INPUT; iptables -w -S " + net.CHAIN_IN)
    assert f"-A INPUT -j {net.CHAIN_IN}" in hooked and "--dport" not in hooked
    again = in_netns(net.partition(["10.0.0.2"]), net.partition(["10.0.0.4"]), net.PROBE)
    assert net.parse_probe(again)[0].drop_from == ["10.0.0.4"]  # replaced, not added


def test_packet_loss_and_delay_rules_with_a_live_delay_daemon_then_heal_and_remove():
    faults = [net.LinkFault("10.0.0.2", 12, loss=0.25), net.LinkFault("10.0.0.3", 13, delay_ms=50, jitter_ms=5)]
    out = in_netns(net.packet(faults, DAEMON), "sleep 0.5", net.PROBE)
    state, _ = net.parse_probe(out)
    assert state.loss_to == {"10.0.0.2": 0.25} and state.delay_to == {"10.0.0.3": 13}
    assert state.degraded_to == ["10.0.0.2", "10.0.0.3"] and state.daemons == 1
    healed = net.parse_probe(in_netns(net.packet(faults, DAEMON), "sleep 0.5", net.heal(), net.PROBE))[0]
    assert (healed.drop_from, healed.loss_to, healed.delay_to, healed.daemons) == ([], {}, {}, 0)
    removed = net.parse_probe(in_netns(net.partition(["10.0.0.2"]), net.remove(), net.PROBE))[0]
    assert not removed.chains_ok  # both chains gone, the node as it was


def test_delay_is_measured_on_a_link_in_the_namespace():
    """The NFQUEUE daemon really holds packets: a loopback round trip slows by the configured delay."""
    probe = (f"{PYTHON} -c \"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); "
             "t=time.monotonic(); c=socket.create_connection(s.getsockname()); print(time.monotonic()-t)\"")
    plain = float(in_netns(probe).strip())
    # the daemon writes its stats once it holds the queue; until then --queue-bypass lets packets through
    ready = f"i=0; until [ -s {net.DAEMON_FILES}-11.json ] || [ $i -gt 200 ]; do sleep 0.05; i=$((i+1)); done"
    slowed = float(in_netns(net.packet([net.LinkFault("127.0.0.1", 11, delay_ms=200)], DAEMON), ready,
                            probe).strip())
    assert slowed >= 0.2 and slowed > plain + 0.15, (plain, slowed)


def test_commands_keep_hostile_addresses_as_data(tmp_path: Path):
    marker = tmp_path / "pwned"
    hostile = f"10.0.0.2; touch {marker}"
    r = subprocess.run(["unshare", "-n", "sh", "-c", net.partition([hostile])], capture_output=True, text=True)
    assert r.returncode != 0 and not marker.exists()  # iptables refuses the odd address; no shell ran it
