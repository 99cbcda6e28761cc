"""The model roles of a results file: one vocabulary for the writer, loader and viewers.

Every ``EncodingModel`` stores a ``role`` (what the model is); the writer puts the models
of one role into one ``EncodingModels`` collection of the processing module, and the
report and the nwbwidgets views label and order models by role. All of them take the
names from here:

- ``ln``: collection ``ln_baseline``, label LN, the linear-nonlinear baseline;
- ``cnn``: collection ``population_cnn``, label CNN, the population CNN ensemble members;
- ``subspace_nonlinearity``: collection ``subspace_models``, label subspace, each unit's
  subspace nonlinearity model.

Models of any other role are stored in a collection named after the role and shown
under that name, after the known roles. Files written by the example factories of
release 0.1.0 stored the CNN's role as ``population_cnn``; it is read as ``cnn``.

This module imports nothing: viewers use it without loading torch or the writer.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "ModelRole",
    "LN",
    "CNN",
    "SUBSPACE",
    "ROLES",
    "ROLE_CONTAINERS",
    "find_role",
    "container_of_role",
    "role_label",
    "role_order",
]


@dataclasses.dataclass(frozen=True)
class ModelRole:
    """One kind of model in a results file.

    Attributes
    ----------
    name : str
        The role stored in each ``EncodingModel.role``.
    container : str
        Name of the ``EncodingModels`` collection holding the models of this role.
    label : str
        Short name in tables, plot axes and drop-downs.
    description : str
        Description of the collection in the file.
    aliases : tuple of str
        Other role names read as this one.
    """

    name: str
    container: str
    label: str
    description: str
    aliases: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether ``name`` is this role's name, one of its aliases or its collection."""
        return name == self.name or name == self.container or name in self.aliases


LN = ModelRole("ln", "ln_baseline", "LN", "Linear-nonlinear baseline model(s) of the site.")
CNN = ModelRole("cnn", "population_cnn", "CNN",
                "Population CNN ensemble: the kept fit of each jackknife fold.",
                aliases=("population_cnn",))
SUBSPACE = ModelRole("subspace_nonlinearity", "subspace_models", "subspace",
                     "Per-unit subspace nonlinearity models on the subspace projections.")

#: The known roles, in display order.
ROLES: tuple[ModelRole, ...] = (LN, CNN, SUBSPACE)

#: Collection of each known role.
ROLE_CONTAINERS: dict[str, str] = {role.name: role.container for role in ROLES}


def find_role(name: str) -> ModelRole | None:
    """The known role called ``name`` (a role, an alias or a collection name), else None."""
    return next((role for role in ROLES if role.matches(name)), None)


def container_of_role(role: str) -> str:
    """Name of the ``EncodingModels`` collection that holds models of ``role``."""
    known = find_role(role)
    return known.container if known is not None else role


def role_label(name: str) -> str:
    """Display label of a role or collection name (the name itself when unknown)."""
    known = find_role(name)
    return known.label if known is not None else name


def role_order(name: str) -> tuple[int, str]:
    """Sort key of a role or collection name: known roles in :data:`ROLES` order first."""
    known = find_role(name)
    return (ROLES.index(known), "") if known is not None else (len(ROLES), name)
