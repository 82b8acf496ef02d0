"""The ``splitbrain`` command line.

Each verb lives beside the concept it drives (``check`` with the checkers,
``run`` with the harness, ``report``/``serve`` with the reports, ...); this
module only assembles them and maps errors to exit codes in one place, so no
verb ever ends in a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from splitbrain.errors import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_USAGE, SplitbrainError

#: verb -> "module:attribute" of its click command
COMMANDS = {
    "run": "splitbrain.harness.cli:run",
    "hunt": "splitbrain.hunt.cli:hunt",
    "systems": "splitbrain.harness.cli:systems",
    "check": "splitbrain.checkers.cli:check",
    "report": "splitbrain.reports.cli:report",
    "serve": "splitbrain.reports.cli:serve",
    "campaign": "splitbrain.harness.campaign_cli:campaign",
    "image": "splitbrain.backends.images:image",
    "cleanup": "splitbrain.backends.cleanup:cleanup",
    "lab": "splitbrain.backends.lab:lab",
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
