"""What every command shares: the typer app, the stderr console, --config and --set, the config.

`config_of` builds a command's configuration (defaults, `--config`, `--set`) and checks it
once (`smfa.checks.check_run`) before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smfa.config import RunConfig, load_config
from smfa.terminal import console as terminal_console

app = typer.Typer(
    help="Make a multimodal LLM forget chosen people, and measure it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
world_app = typer.Typer(help="Generate or inspect an embedded world.", no_args_is_help=True)
app.add_typer(world_app, name="world")
console = terminal_console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override, e.g. --set train.lr=3e-4.")
]


def config_of(
    config: Path | None, overrides: list[str] | None, judge: str | None = None
) -> RunConfig:
    """The command's configuration: defaults, the YAML file, `--set`, checked once."""
    from smfa.checks import check_run

    loaded = load_config(config, overrides or [])
    if judge is not None:
        loaded.eval.judge = judge
    return check_run(loaded)
