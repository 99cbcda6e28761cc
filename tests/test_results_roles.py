"""The vocabulary of model roles: names, collections, labels, order."""

from __future__ import annotations

import pytest

from ndx_encoding_subspace.results import ROLE_CONTAINERS, container_of_role
from ndx_encoding_subspace.results.convert import COLLECTION_DESCRIPTIONS
from ndx_encoding_subspace.results.roles import (
    CNN,
    LN,
    ROLES,
    SUBSPACE,
    find_role,
    role_label,
    role_order,
)


def test_the_known_roles_in_display_order() -> None:
    assert [(r.name, r.container, r.label) for r in ROLES] == [
        ("ln", "ln_baseline", "LN"),
        ("cnn", "population_cnn", "CNN"),
        ("subspace_nonlinearity", "subspace_models", "subspace"),
    ]
    assert ROLE_CONTAINERS == {"ln": "ln_baseline", "cnn": "population_cnn",
                               "subspace_nonlinearity": "subspace_models"}
    assert COLLECTION_DESCRIPTIONS == {r.container: r.description for r in ROLES}


@pytest.mark.parametrize("name,role", [
    ("cnn", CNN), ("population_cnn", CNN), ("ln", LN), ("ln_baseline", LN),
    ("subspace_nonlinearity", SUBSPACE), ("subspace_models", SUBSPACE), ("gru", None),
])
def test_roles_are_found_by_name_alias_or_collection(name: str, role: object) -> None:
    assert find_role(name) is role
    assert role_label(name) == (role.label if role else name)
    assert container_of_role(name) == (role.container if role else name)


def test_unknown_roles_sort_after_the_known_ones_by_name() -> None:
    names = ["zeta", "subspace_models", "alpha", "cnn", "ln"]
    assert sorted(names, key=role_order) == ["ln", "cnn", "subspace_models", "alpha", "zeta"]
