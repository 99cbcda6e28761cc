"""The members' stacked parameters and their Adam against torch's Adam of each model alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ndx_encoding_subspace.fitting.member_adam import MemberAdam, ModelAdam, StackedParameters


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _loss(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Member-wise loss of a stacked two-layer net, ``params`` with a member dimension."""
    h = torch.relu(torch.einsum("mbi,moi->mbo", x, params["0.weight"]) + params["0.bias"][:, None])
    out = torch.einsum("mbh,moh->mbo", h, params["2.weight"]) + params["2.bias"][:, None]
    return (out ** 2).mean(dim=(1, 2))


def _alone(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return (model(x) ** 2).mean()


def test_stacked_members_follow_torch_adam_each_alone():
    models = [_net(s) for s in range(3)]
    alone = [copy.deepcopy(m) for m in models]
    lrs = [1e-2, 3e-3, 1e-2]
    stack = StackedParameters(models)
    opt = MemberAdam(stack, lrs)
    refs = [torch.optim.Adam(m.parameters(), lr=lr) for m, lr in zip(alone, lrs)]
    gen = torch.Generator().manual_seed(0)
    # member 1 sits out of steps 2 and 3: no update and no step count, as if never asked
    plan = [[0, 1, 2], [0, 1, 2], [0, 2], [2, 0], [0, 1, 2]]
    for members in plan:
        x = torch.randn(3, 5, 4, generator=gen)
        opt.zero_grad()
        index = torch.as_tensor(members)
        losses = _loss(stack.weights(index), x[index])
        losses.sum().backward()
        opt.step(members)
        for i in members:
            refs[i].zero_grad()
            _alone(alone[i], x[i]).backward()
            refs[i].step()
    assert opt.steps.tolist() == [5, 3, 5]
    for model, ref in zip(models, alone):  # the models' own tensors are views of the stack
        for p, q in zip(model.parameters(), ref.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_member_state_is_an_adam_state_dict_and_goes_back():
    models = [_net(s) for s in range(2)]
    stack = StackedParameters(models)
    opt = MemberAdam(stack, [1e-2, 1e-2])
    assert opt.member_state(0)["state"] == {}  # nothing before the first step
    for _ in range(3):
        opt.zero_grad()
        _loss(stack.weights(), torch.randn(2, 5, 4)).sum().backward()
        opt.step([0, 1])
    saved = opt.member_state(1)
    # a torch Adam of member 1 alone takes the state, and continues as the stack does
    alone = copy.deepcopy(models[1])
    stack.release()
    ref = torch.optim.Adam(alone.parameters(), lr=1e-2)
    ref.load_state_dict(saved)
    assert float(ref.state[next(iter(alone.parameters()))]["step"]) == 3.0
    fresh = MemberAdam(StackedParameters([copy.deepcopy(models[0]), copy.deepcopy(models[1])]), [1e-2, 1e-2])
    fresh.load_member_state(1, saved)
    assert fresh.steps.tolist() == [0, 3]
    for k, part in enumerate(fresh.stack.member(1, fresh.exp_avg)):
        assert torch.equal(part, saved["state"][k]["exp_avg"])


def test_release_gives_the_models_their_own_storage():
    models = [_net(s) for s in range(2)]
    stack = StackedParameters(models)
    first = next(models[0].parameters())
    assert first.data.untyped_storage().data_ptr() == stack.flat.untyped_storage().data_ptr()
    with torch.no_grad():
        models[0].load_state_dict(_net(7).state_dict())  # writes into the stack
    np.testing.assert_array_equal(stack.weights()["0.weight"][0].detach().numpy(),
                                  _net(7)[0].weight.detach().numpy())
    stack.release()
    assert first.data.untyped_storage().data_ptr() != stack.flat.untyped_storage().data_ptr()


def test_members_of_mixed_dtypes_are_refused():
    a, b = _net(0), _net(1)
    a[2].bias.data = a[2].bias.data.double()
    b[2].bias.data = b[2].bias.data.double()
    with pytest.raises(Exception, match="one dtype"):
        StackedParameters([a, b])


def test_model_adam_is_torch_adam_with_the_members_interface():
    model, ref = _net(0), _net(0)
    opt, ref_opt = ModelAdam(model, 1e-2), torch.optim.Adam(ref.parameters(), lr=1e-2)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    for take in ([0], [], [0]):  # a step the member sits out changes nothing
        for m, o in ((model, opt), (ref, None)):
            (ref_opt if o is None else o).zero_grad()
            _alone(m, x).backward()
        opt.step(take)
        if take:
            ref_opt.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    saved = copy.deepcopy(opt.member_state(0))
    assert saved["state"][0]["step"] == 2
    opt.set_lrs([5e-3])
    opt.load_member_state(0, saved)  # the state comes back, the rate stays the schedule's
    assert opt.adam.param_groups[0]["lr"] == 5e-3
    torch.testing.assert_close(opt.adam.state_dict()["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])
    opt.load_member_state(0, {})  # an empty state: as a fresh Adam
    assert not opt.adam.state and opt.adam.param_groups[0]["lr"] == 5e-3
