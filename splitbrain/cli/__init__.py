"""The ``splitbrain`` command line: every verb, and the one place errors become exit codes.

Each verb is a module here (``run``/``systems``, ``check``, ``report``/``serve``,
``campaign``, ``hunt``, ``image``, ``lab``, ``cleanup``) that reads flags and
prints, over plain functions in the package that owns the concept (the
harness, the checkers, the reports, the backends). Nothing outside this
package imports click. This module assembles the verbs lazily and maps errors
to exit codes, so no verb ever ends in a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from splitbrain.errors import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_USAGE, SplitbrainError

#: verb -> "module:attribute" of its click command
COMMANDS = {
    "run": "splitbrain.cli.run:run",
    "hunt": "splitbrain.cli.hunt:hunt",
    "systems": "splitbrain.cli.run:systems",
    "check": "splitbrain.cli.check:check",
    "report": "splitbrain.cli.report:report",
    "serve": "splitbrain.cli.report:serve",
    "campaign": "splitbrain.cli.campaign:campaign",
    "image": "splitbrain.cli.image:image",
    "cleanup": "splitbrain.cli.cleanup:cleanup",
    "lab": "splitbrain.cli.lab:lab",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="splitbrain")
def cli() -> None:
    """splitbrain: run a cluster, inject faults, record a history, check it, report."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: every SplitbrainError becomes one line on stderr and its exit code."""
    try:
        code = cli.main(args=argv, prog_name="splitbrain", standalone_mode=False)
    except SplitbrainError as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("splitbrain: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE if e.exit_code == 2 else e.exit_code)
    except KeyboardInterrupt:
        click.echo("splitbrain: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, exit 255
        click.echo(f"splitbrain: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(EXIT_HARNESS)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
