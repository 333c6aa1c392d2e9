"""The ``cftrack`` command line: thin sub-commands that parse, call the library, and print."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cftrack_cli import __version__
from cftrack_cli.cli import bench, distill, evaluate, export, select, track
from cftrack_cli.cli.common import INTERRUPTED, error

app = typer.Typer(
    name="cftrack",
    help=(
        "Track an object through a video in real time on a CPU, with correlation filters on "
        "hand-crafted or distilled deep features."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: reads better in an 80-column terminal
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        print(f"cftrack {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print cftrack's version and exit.",
        ),
    ] = False,
) -> None:
    pass  # the options of cftrack itself, before any sub-command


app.command("track")(track.track)
app.command("select")(select.select)
app.command("distill")(distill.distill_command)
app.command("bench")(bench.bench)
app.command("eval")(evaluate.evaluate)
app.command("export")(export.export_command)


def main() -> None:
    """Console entry point: click's usage errors become one line, like ours."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # a usage error: unknown option, missing argument ...
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        error(f"{exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    except typer.Abort:
        error("interrupted")
        sys.exit(INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
