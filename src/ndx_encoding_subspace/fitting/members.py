"""Fitting many small networks of one architecture at once, each as if alone.

:func:`fit_members` trains ``M`` models whose parameters have the same names and
shapes (for example the subspace networks of many units, or of many initialisations
of one unit) through the one schedule of :mod:`~ndx_encoding_subspace.fitting.schedule`,
run over a :class:`~.memberset.MemberSet` of all of them: their forward passes run as
one batched computation, and each member has its own data, batch order (its own seeded
generator), Adam state, early stopping, stage lengths and :class:`~.record.FitRecord`,
and ends with the weights :func:`~.schedule.fit_model` would give it, up to float
rounding. A member whose stage has ended is frozen (no update, no Adam step) and left
out of the forward passes while the others go on.

Small networks are dominated by per-step overhead; batching ``M`` of them costs about
as much per step as one, which is where the speed comes from.

A member's forward pass must not depend on training mode (no dropout or batch
normalisation): members run functionally, from their stacked parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from ..compute import flushed_subnormals
from ..errors import ConfigError, InvalidDataError
from .memberdata import own_data
from .memberset import MemberSet, layout
from .record import FitRecord
from .schedule import Schedule
from .segments import check_data
from .training_params import TrainingParams, resolve_device

__all__ = ["fit_members"]


def _check_models(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ConfigError("fit_members needs at least one model")
    ref = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
    rf = getattr(models[0], "receptive_field", None)
    for i, m in enumerate(models[1:], 1):
        shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        if shapes != ref or type(m) is not type(models[0]):
            raise ConfigError(
                f"fit_members: model {i} ({type(m).__name__}) differs from model 0 "
                f"({type(models[0]).__name__}) in type or parameter shapes"
            )
        if getattr(m, "receptive_field", None) != rf:
            raise ConfigError(f"fit_members: model {i} has another receptive field than model 0")


@flushed_subnormals()
def fit_members(
    models: Sequence[nn.Module],
    inputs: Sequence[Sequence[np.ndarray]],
    targets: Sequence[Sequence[np.ndarray]],
    params: TrainingParams | None = None,
    seeds: Sequence[int] | None = None,
) -> list[FitRecord]:
    """Train ``models`` in place, each on its own data, as :func:`~.schedule.fit_model` would.

    Parameters
    ----------
    models : sequence of nn.Module
        Same type and parameter shapes (``[batch, time, inputs] -> [batch, time, units]``).
    inputs, targets : one list of arrays per model
        Each model's estimation sounds, ``[time, inputs]`` and ``[time, units]``; the
        sounds must have the same lengths for every model.
    params : TrainingParams
        Shared by every member, except the seed.
    seeds : sequence of int, optional
        Seed of each member's batch order (default ``params.seed`` for all); recorded in
        its :class:`~.record.FitRecord`.

    Returns
    -------
    list of FitRecord
        One per model, in order.

    Raises
    ------
    TrainingError
        Non-finite loss of a member (see ``nan_policy``), naming the member.
    """
    params = TrainingParams.of(params)
    n = len(models)
    seeds = [params.seed] * n if seeds is None else [int(s) for s in seeds]
    if len(inputs) != n or len(targets) != n or len(seeds) != n:
        raise ConfigError(
            f"fit_members: {n} models need as many input and target lists and seeds, got "
            f"{len(inputs)}, {len(targets)} and {len(seeds)}"
        )
    _check_models(models)
    ins = [[np.asarray(a, dtype=np.float32) for a in x] for x in inputs]
    outs = [[np.asarray(t, dtype=np.float32) for t in y] for y in targets]
    for x, y in zip(ins, outs):
        check_data(x, y, params.loss)
        if [a.shape[0] for a in x] != [a.shape[0] for a in ins[0]]:
            raise InvalidDataError("fit_members: every model's sounds must have the same lengths")
    device = resolve_device(params.device)
    context, length = layout(models[0], params)
    data = own_data(ins, outs, params.early_stop_fraction, context, length, device)
    return Schedule(MemberSet(models, data, params, seeds, device), params).run()
