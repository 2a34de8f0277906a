"""Issue 20, nothing lost and nothing silently wrong: each bad input ends as one clear error.

Every test here runs the real code on the miniature world and tiny models of conftest.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from smfa.data.format import World
from smfa.errors import SmfaError
from smfa.unlearn import resolve_request


def test_a_name_shared_by_two_people_is_refused(mini_world: World) -> None:
    first, second = list(mini_world.people.values())[:2]
    twin = dataclasses.replace(second, name=first.name)
    world = dataclasses.replace(mini_world, people={**mini_world.people, second.id: twin})
    with pytest.raises(SmfaError, match=f"names 2 people \\({first.id}, {second.id}\\)"):
        resolve_request(world, people=[first.name.lower()])
    assert resolve_request(world, people=[second.id]).people == (second.id,)
