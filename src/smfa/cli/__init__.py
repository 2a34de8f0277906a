"""The `smfa` command line: world, train, eval, unlearn, verify, stream, compare, show, demo.

Every command takes `--config FILE` (YAML) and repeated `--set section.key=value` overrides.
Bad input ends as one readable line on stderr and exit code 2, never a traceback.
`train`, `unlearn` and `eval` also run under `accelerate launch` (docs/scale-out.md); then only
the main process prints and writes.

The commands live in `worlds.py`, `models.py` and `erasure.py`; they are registered here, in
the order `smfa --help` lists them; `common.py` holds the app and the options they share.
"""

from __future__ import annotations

import sys

from smfa.cli import erasure, models, worlds
from smfa.cli.common import app, console, world_app
from smfa.errors import SmfaError

world_app.command("build")(worlds.world_build)
app.command()(models.train)
app.command("eval")(models.evaluate)
app.command("unlearn")(erasure.unlearn_cmd)
app.command()(erasure.verify)
app.command()(erasure.keygen)
app.command()(erasure.stream)
app.command()(models.compare)
app.command("import")(worlds.import_cmd)
app.command("export-lora")(erasure.export_lora_cmd)
app.command()(models.report)
app.command()(models.show)
app.command()(models.demo)

__all__ = ["app", "main"]


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so staging directories and temporary files are removed."""
    raise SystemExit(128 + signum)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SmfaError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # the environment, not a bug: read-only or full disk, a file as --out
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(
            f"[bold red]error:[/bold red] {where}{exc.strerror or exc}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)
