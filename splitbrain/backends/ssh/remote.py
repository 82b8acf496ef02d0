"""Shell commands that run a node's process on an ssh host: start it detached, signal it, ask its state.

Every function returns one shell command string built from ``shlex.quote``-d
parts (:func:`q`), so node names, paths and values can never inject shell
syntax. The network faults on the same hosts are :mod:`splitbrain.backends.linux.net`'s.
"""

from __future__ import annotations

import shlex

from splitbrain.backends.linux.net import q

__all__ = ["PIDFILE_WAIT_S", "pid_state", "q", "signal_pidfile", "start_daemon"]

#: how long the start command waits for the daemon to record its pid before it gives up
PIDFILE_WAIT_S = 10


def start_daemon(workdir: str, argv: list[str], env: dict[str, str], log: str, pidfile: str) -> str:
    """Start argv detached (new session, no terminal), its pid in ``pidfile``; exit once it is there.

    ``sh -c 'echo $$ > pid; exec ...'`` makes the recorded pid the node's own, so kill/pause
    signal the node and not a wrapper. The pid is written atomically (tmp + mv) and the command
    does not return before the file exists: a caller that asks for the node's state right after
    must never read "no pid file" as "the node died" (that race failed one ssh run in a few
    hundred under load: the node was reported dead while it was starting, and teardown's kill,
    finding no pid either, left it running). Exit 1 (with a message) if no pid appears in
    :data:`PIDFILE_WAIT_S` seconds.
    """
    env_args = [f"{k}={v}" for k, v in sorted(env.items())]
    tmp = pidfile + ".tmp"
    inner = f"echo $$ > {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(pidfile)}; exec {q('env', *env_args, *argv)}"
    tries = PIDFILE_WAIT_S * 20
    # `cd ... || exit` then a *simple* background command: the redirections apply to the only process
    # that outlives this shell, so the SSH channel (its stdout/stderr) closes as soon as we return.
    return (f"cd {shlex.quote(workdir)} || exit 1; rm -f {shlex.quote(pidfile)}; setsid sh -c {shlex.quote(inner)} "
            f">> {shlex.quote(log)} 2>&1 < /dev/null & "
            f"i=0; while [ ! -s {shlex.quote(pidfile)} ]; do i=$((i+1)); "
            f"if [ $i -gt {tries} ]; then echo 'no pid file after {PIDFILE_WAIT_S} s' >&2; exit 1; fi; "
            "sleep 0.05; done")


def signal_pidfile(pidfile: str, sig: str) -> str:
    return f"kill -{shlex.quote(sig)} \"$(cat {shlex.quote(pidfile)})\" 2>/dev/null; true"


def pid_state(pidfile: str) -> str:
    """Print the process state letter (R/S/T/Z...), 'dead', or 'nopid' when no pid was recorded."""
    return (f"p=\"$(cat {shlex.quote(pidfile)} 2>/dev/null)\"; "
            "if [ -z \"$p\" ]; then echo nopid; "
            "elif [ -r /proc/$p/stat ]; then awk '{print $3}' /proc/$p/stat; else echo dead; fi")
