"""Several `smfa` commands, one after another, in each process of one `accelerate launch`.

test_distributed.py launches this script once instead of launching `smfa` once per command:
two new interpreters spend their first seconds importing torch, transformers and peft and
joining the gloo group, and that start-up is then paid once. Each command runs through the
real entry point (`smfa.cli.main`) with its own argv, as a launched `smfa` would; the first
that fails ends the launch with its exit status.

    python -m accelerate.commands.launch ... tests/launched.py COMMANDS.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from smfa.cli import main


def run_all(commands: list[list[str]]) -> None:
    for argv in commands:
        sys.argv = ["smfa", *argv]
        try:
            main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                print(f"launched.py: smfa {' '.join(argv)} exited {exc.code}", file=sys.stderr)
                raise


if __name__ == "__main__":
    run_all(json.loads(Path(sys.argv[1]).read_text()))
