"""Terminal output that reads the same whatever the terminal: consoles, tables, progress bars.

Log lines and errors are never soft-wrapped: a long path stays on one line, so a log (or a test
reading it) sees the words the program printed. A console that is not a terminal (a pipe, a log
file, CI) gets a fixed width instead of `$COLUMNS`, and tables print as Markdown there, so
`make demo | tee log` keeps every column readable. On a terminal, tables are rich tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

# Width of a console that is not a terminal: wide enough for progress bars with long labels,
# and the same on every machine (not the environment's `$COLUMNS`).
PIPE_WIDTH = 200


def console(stderr: bool = False) -> Console:
    """A console whose lines never wrap; a fixed width when it is not a terminal."""
    out = Console(stderr=stderr, soft_wrap=True)
    if not out.is_terminal:
        out = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return out


@dataclass
class Grid:
    """A table as data: a title, column headers (right-aligned unless listed in `left`), rows.

    Cells may hold rich markup ("[dim]...[/dim]"); Markdown output shows their plain text.
    """

    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    left: int = 1  # how many leading columns are left-aligned (labels)
    notes: list[str] = field(default_factory=list)  # plain lines printed under the table

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def rich(self) -> Table:
        table = Table(title=self.title)
        for i, column in enumerate(self.columns):
            table.add_column(column, justify="left" if i < self.left else "right")
        for row in self.rows:
            table.add_row(*row)
        return table

    def markdown(self) -> str:
        def plain(cell: str) -> str:
            return Text.from_markup(cell).plain.replace("|", "\\|")

        aligns = ["---" if i < self.left else "---:" for i in range(len(self.columns))]
        lines = [f"**{plain(self.title)}**", ""] if self.title else []
        lines.append("| " + " | ".join(plain(c) for c in self.columns) + " |")
        lines.append("|" + "|".join(aligns) + "|")
        lines += ["| " + " | ".join(plain(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


def show(grid: Grid, out: Console) -> None:
    """A rich table on a terminal; Markdown (no width to cut columns to) anywhere else."""
    if out.is_terminal:
        out.print(grid.rich())
    else:
        out.print(grid.markdown(), markup=False, highlight=False, soft_wrap=True)
    for note in grid.notes:
        out.print(note, markup=False, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.print()


def progress_bar(disable: bool = False, loss: bool = True) -> Progress:
    """A rich progress bar (on stderr) with steps, loss, elapsed time and ETA."""
    loss_column = [TextColumn("loss {task.fields[loss]:.4f}")] if loss else []
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *loss_column,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        disable=disable,
        transient=False,
        console=console(stderr=True),
    )
