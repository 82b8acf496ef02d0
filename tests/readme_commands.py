"""Run the README's commands as written, so the README cannot drift from what the code does.

    python3 tests/readme_commands.py            # the fast ones (seconds): systems, check, report, serve
    python3 tests/readme_commands.py --all      # every command (long: runs, campaigns, docker)
    python3 tests/readme_commands.py --only run # those whose text contains "run"

Every line of a plain fenced block (```) that starts with ``splitbrain `` is a command; a
trailing ``\\`` continues it; ``# exits N`` in its comment is the exit status it must end with
(otherwise 0). A fenced block whose first line is ``# FILE`` (the campaign file, the workflow)
is written out as FILE first, since commands refer to it. Commands run with ``bash -c`` from a
scratch directory that holds a link to the clone's ``corpora/`` (so the README's relative paths
resolve as they do from the clone's root, and no store is left in the clone), with the venv's
``bin/`` first on PATH, as ``. .venv/bin/activate`` does. ``make run``/``make test`` and the
activate line are how this script itself gets run and are not repeated; synopsis lines
(``[--opt ARG]...``) are reported, not run. ``serve`` is started, probed at the URL its comment
names, and stopped. Prints one line per command and exits 1 if any did not do what the README says.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: commands that take seconds; the rest (runs, campaigns) take minutes
FAST = ("splitbrain systems", "splitbrain check ", "splitbrain report ", "splitbrain serve ")
SKIP = ("make ", ". .venv/bin/activate")
PER_COMMAND_TIMEOUT_S = 1800


@dataclass
class Command:
    text: str
    expect: int
    line: int
    comment: str = ""

    @property
    def fast(self) -> bool:
        return self.text.startswith(FAST)

    @property
    def synopsis(self) -> bool:
        return bool(re.search(r"\[[^\]]*\]|\.\.\.|<[a-z]", self.text))


def parse(readme: str) -> tuple[list[Command], dict[str, str]]:
    """(commands in README order, files to write: name -> content)."""
    commands: list[Command] = []
    files: dict[str, str] = {}
    block: list[tuple[int, str]] | None = None
    lang = ""
    for n, line in enumerate(readme.splitlines(), 1):
        if line.startswith("```"):
            if block is None:
                block, lang = [], line[3:].strip()
                continue
            if block and (m := re.match(r"#\s*(\S+\.(?:toml|ya?ml|json))\s*$", block[0][1])):
                files[m.group(1)] = "\n".join(t for _, t in block) + "\n"
            elif lang in ("", "sh", "bash", "console"):
                commands += _commands(block)
            block = None
            continue
        if block is not None:
            block.append((n, line))
    return commands, files


def _commands(block: list[tuple[int, str]]) -> list[Command]:
    out: list[Command] = []
    pending, start = "", 0
    for n, line in block:
        text = line.rstrip()
        if not pending and not text.startswith(("splitbrain ", *SKIP)):
            continue
        if text.startswith(SKIP):
            continue
        pending, start = (pending + " " + text.lstrip() if pending else text), start or n
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        code, _, comment = pending.partition(" #")
        m = re.search(r"exits (\d+)", comment)
        out.append(Command(code.strip(), int(m.group(1)) if m else 0, start, comment))
        pending, start = "", 0
    return out


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "CI": "1"}


def _serve(cmd: Command, cwd: Path) -> tuple[bool, str]:
    """Start ``serve`` as written, fetch the URL its comment names, stop it."""
    url = re.search(r"http://[\w.:]+", cmd.comment)
    p = subprocess.Popen(["bash", "-c", "exec " + cmd.text], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        target = url.group(0) if url else "http://127.0.0.1:8000"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if p.poll() is not None:
                return False, f"serve exited {p.returncode}: {(p.stdout.read() if p.stdout else '')[-300:]}"
            try:
                with urllib.request.urlopen(target + "/", timeout=2) as r:
                    return r.status == 200, f"{target} answered {r.status}"
            except OSError:
                time.sleep(0.3)
        return False, f"{target} did not answer in 20 s"
    finally:
        p.terminate()
        p.wait(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="every command, the long runs and campaigns too")
    ap.add_argument("--only", default=None, help="only commands containing this text")
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    args = ap.parse_args(argv)
    commands, files = parse(Path(args.readme).read_text())
    failures = 0
    with tempfile.TemporaryDirectory(prefix="splitbrain-readme-") as tmp:
        cwd = Path(tmp)
        (cwd / "corpora").symlink_to(REPO / "corpora")
        (cwd / "examples").symlink_to(REPO / "examples")  # the README's example plugin and system file
        for name, content in files.items():
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_text(content)
        if not args.all:
            # check/report store/latest need a stored run: make a short one first (not a README command)
            subprocess.run(["bash", "-c", "splitbrain run raft --nodes 3 --time-limit 3 --seed 1 >/dev/null"],
                           cwd=cwd, env=_env(), timeout=300)
        for cmd in commands:
            where = f"README.md:{cmd.line}"
            if cmd.synopsis:
                print(f"synopsis  {where}  {cmd.text}")
                continue
            if (not args.all and not cmd.fast) or (args.only and args.only not in cmd.text):
                print(f"skipped   {where}  {cmd.text}")
                continue
            start = time.monotonic()
            if cmd.text.startswith("splitbrain serve "):
                ok, why = _serve(cmd, cwd)
            else:
                p = subprocess.run(["bash", "-c", cmd.text], cwd=cwd, env=_env(), capture_output=True, text=True,
                                   timeout=PER_COMMAND_TIMEOUT_S)
                ok = p.returncode == cmd.expect
                why = f"exit {p.returncode}, README says {cmd.expect}"
                if not ok:
                    why += ": " + (p.stderr.strip() or p.stdout.strip())[-400:]
            failures += not ok
            print(f"{'ok' if ok else 'FAILED':<9} {where}  {cmd.text}  ({why}; {time.monotonic() - start:.1f} s)")
    print(f"{failures} of the README's commands did not do what it says" if failures
          else "every command run did what the README says")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
