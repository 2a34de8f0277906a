"""Invalid source records, collected and reported all at once instead of one at a time.

An importer reads every record inside `Problems.record()`; a `DataFormatError` there (whose
message already names the file, row or line and key) is kept with the person id the record
is about, when it got as far as reading one. At the end `Problems.check()` either raises one
`InvalidRecords` listing every problem, or, when the user asked to skip invalid records,
returns the ids to drop from the people and from every split list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from smfa.errors import DataFormatError


class InvalidRecords(DataFormatError):
    """Several source records are invalid; `problems` lists each as 'where: why'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{count} invalid source record{'s' if count != 1 else ''} (fix them, or pass "
            f"--skip-invalid to drop them and their ids from every split): " + "; ".join(problems)
        )


@dataclass
class Mark:
    """What `Problems.record` knows about the record being read: the person it is about."""

    person: str | None = None


@dataclass
class Problems:
    """Every invalid record met so far: (the person id it is about or None, the message)."""

    found: list[tuple[str | None, str]] = field(default_factory=list)

    @contextmanager
    def record(self, person: str | None = None) -> Iterator[Mark]:
        """Read one record; a DataFormatError inside is kept, not raised."""
        mark = Mark(person)
        try:
            yield mark
        except InvalidRecords:
            raise
        except DataFormatError as error:
            self.found.append((mark.person, str(error)))

    def add(self, person: str | None, message: str) -> None:
        self.found.append((person, message))

    @property
    def ids(self) -> set[str]:
        return {person for person, _ in self.found if person is not None}

    def check(self, skip: bool) -> set[str]:
        """Raise every problem at once, or with `skip` return the person ids to drop."""
        if self.found and not skip:
            raise InvalidRecords([message for _, message in self.found])
        return self.ids
