"""The GameGAN discriminators: head shapes, spectral norm, what each head depends on, and
that the info head can learn to read an action off a transition."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gamegan.config import ModelConfig
from gamegan.model.discriminator import Discriminator

N_ACTIONS, Z_DIM = 5, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def make_disc(frame_size: int = 32, channels: int = 8, **overrides) -> Discriminator:
    cfg = ModelConfig(frame_size=frame_size, disc_channels=channels, z_dim=Z_DIM, embed_dim=8,
                      n_actions=N_ACTIONS, **overrides)
    return Discriminator(cfg)


def random_sequence(b: int, t: int, s: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(b, t, 3, s, s, generator=g) * 2 - 1
    actions = torch.randint(0, N_ACTIONS, (b, t - 1), generator=g)
    return frames, actions


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("t", [4, 8, 16])
def test_every_head_has_the_documented_shape(size: int, t: int) -> None:
    torch.manual_seed(0)
    disc = make_disc(size)
    b, p = 2, (size // 8) ** 2
    frames, actions = random_sequence(b, t, size)
    out = disc(frames, actions, wrong_actions=(actions + 1) % N_ACTIONS)

    assert out.frame.shape == (b, t)
    assert out.patch.shape == (b, t, p)
    assert out.action.shape == out.wrong_action.shape == (b, t - 1)
    assert out.info_action.shape == (b, t - 1, N_ACTIONS)
    assert out.info_z.shape == (b, t - 1, Z_DIM)
    # Three temporal scales, time halving (rounded up) from one to the next.
    assert [x.shape for x in out.temporal] == [(b, t), (b, math.ceil(t / 2)), (b, math.ceil(t / 4))]
    assert [f.shape[:3] for f in out.features] == [(b, t, 8), (b, t, 16), (b, t, 32)]
    assert [f.shape[-1] for f in out.features] == [size // 2, size // 4, size // 8]
    for x in [out.frame, out.patch, out.action, out.info_action, out.info_z, *out.temporal]:
        assert torch.isfinite(x).all()

    # The per-head methods on raw frames give the same shapes.
    x_t, x_t1 = frames[:, 0], frames[:, 1]
    glob, patch = disc.frame_logits(x_t)
    assert glob.shape == (b,) and patch.shape == (b, p)
    assert disc.action_logits(x_t, x_t1, actions[:, 0]).shape == (b,)
    a_logits, z_pred = disc.info(x_t, x_t1)
    assert a_logits.shape == (b, N_ACTIONS) and z_pred.shape == (b, Z_DIM)
    assert [x.shape for x in disc.temporal_logits(frames)] == [x.shape for x in out.temporal]


def test_per_head_methods_agree_with_the_sequence_forward() -> None:
    torch.manual_seed(0)
    disc = make_disc().eval()  # eval: spectral norm stops its power iteration, so calls are repeatable
    frames, actions = random_sequence(2, 5, 32)
    out = disc(frames, actions)
    glob, patch = disc.frame_logits(frames[:, 2])
    torch.testing.assert_close(glob, out.frame[:, 2])
    torch.testing.assert_close(patch, out.patch[:, 2])
    torch.testing.assert_close(disc.action_logits(frames[:, 1], frames[:, 2], actions[:, 1]), out.action[:, 1])
    a_logits, z_pred = disc.info(frames[:, 3], frames[:, 4])
    torch.testing.assert_close(a_logits, out.info_action[:, 3])
    torch.testing.assert_close(z_pred, out.info_z[:, 3])
    for mine, theirs in zip(disc.temporal_logits(frames), out.temporal):
        torch.testing.assert_close(mine, theirs)


def test_temporal_scale_count_follows_config_and_short_sequences_work() -> None:
    disc = make_disc(temporal_scales=2)
    frames, actions = random_sequence(1, 2, 32)  # T=2: the shortest window with a transition
    out = disc(frames, actions)
    assert [x.shape for x in out.temporal] == [(1, 2), (1, 1)]
    with pytest.raises(ValueError, match="T >= 2"):
        disc(frames[:, :1], actions[:, :0])
    with pytest.raises(ValueError, match="expected frames"):
        disc(torch.zeros(1, 3, 3, 64, 64), actions[:, :1].repeat(1, 2))
    with pytest.raises(ValueError, match="temporal_scales"):
        make_disc(temporal_scales=0)


def test_every_head_passes_gradient_back_to_the_frames() -> None:
    torch.manual_seed(0)
    disc = make_disc()
    frames, actions = random_sequence(2, 4, 32)
    frames.requires_grad_()
    out = disc(frames, actions, wrong_actions=(actions + 1) % N_ACTIONS)
    heads = {"frame": out.frame, "patch": out.patch, "action": out.action, "wrong_action": out.wrong_action,
             "info_action": out.info_action, "info_z": out.info_z,
             **{f"temporal{i}": x for i, x in enumerate(out.temporal)}}
    for name, logits in heads.items():
        (grad,) = torch.autograd.grad(logits.sum(), frames, retain_graph=True)
        assert grad.abs().sum() > 0, name


def test_every_weight_is_spectrally_normalised() -> None:
    disc = make_disc()
    kinds = (nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)
    layers = [m for m in disc.modules() if isinstance(m, kinds)]
    assert all(any(isinstance(m, k) for m in layers) for k in kinds)
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    # Every trainable weight matrix lives under a parametrization; biases are the only others.
    plain = [name for name, _ in disc.named_parameters() if "parametrizations" not in name]
    assert plain and all(name.endswith(".bias") for name in plain)
    # After some power iterations the effective weights have largest singular value ~1.
    disc.train()
    for _ in range(30):
        for m in layers:
            m.weight  # each access in train mode runs one power iteration
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, rel=0.05), m


def test_heads_read_the_frames_they_should() -> None:
    """Frame logits depend on their own frame only, a transition on its two frames and
    action; the temporal heads see the whole sequence."""
    torch.manual_seed(0)
    disc = make_disc().eval()
    frames, actions = random_sequence(2, 6, 32)
    base = disc(frames, actions)
    edited = frames.clone()
    edited[:, 4] = -edited[:, 4]
    out = disc(edited, actions)

    changed = (out.frame - base.frame).abs().amax(0) > 1e-6  # per frame t
    assert changed.tolist() == [False, False, False, False, True, False]
    changed = (out.action - base.action).abs().amax(0) > 1e-6  # per pair (t, t+1)
    assert changed.tolist() == [False, False, False, True, True]
    assert not torch.allclose(out.temporal[0], base.temporal[0])
    assert not torch.allclose(out.temporal[-1], base.temporal[-1])

    other = (actions + 1) % N_ACTIONS
    swapped = disc(frames, other)
    assert not torch.allclose(swapped.action, base.action)  # the action head reads the action
    torch.testing.assert_close(swapped.info_action, base.info_action)  # the info head must not
    # The wrong-action logits are the action head on the same pairs with the wrong actions.
    both = disc(frames, actions, wrong_actions=other)
    torch.testing.assert_close(both.wrong_action, swapped.action)
    torch.testing.assert_close(both.action, base.action)


MOVES = torch.tensor([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)])  # NOOP, UP, DOWN, LEFT, RIGHT as (dy, dx)


def sprite_pairs(n: int, g: torch.Generator, size: int = 32, sprite: int = 6, step: int = 4):
    """A white square on black, then the same square moved `step` pixels by a random action."""
    pos = torch.randint(step, size - sprite - step, (n, 2), generator=g)
    actions = torch.randint(0, N_ACTIONS, (n,), generator=g)
    grid = torch.arange(size)

    def draw(p: torch.Tensor) -> torch.Tensor:
        rows = (grid >= p[:, :1]) & (grid < p[:, :1] + sprite)  # (n, S)
        cols = (grid >= p[:, 1:]) & (grid < p[:, 1:] + sprite)
        img = (rows[:, :, None] & cols[:, None, :]).float() * 2 - 1  # (n, S, S)
        return img[:, None].expand(n, 3, size, size)

    return draw(pos), draw(pos + MOVES[actions] * step), actions


def test_info_head_learns_to_decode_the_action() -> None:
    torch.manual_seed(0)
    disc = make_disc(32, channels=8)
    g = torch.Generator().manual_seed(0)
    val_x, val_x1, val_a = sprite_pairs(256, g)
    opt = torch.optim.Adam(disc.parameters(), lr=5e-3, betas=(0.5, 0.999))

    def val_ce() -> float:
        with torch.no_grad():
            return F.cross_entropy(disc.info(val_x, val_x1)[0], val_a).item()

    before = val_ce()
    for _ in range(100):
        x, x1, a = sprite_pairs(16, g)
        loss = F.cross_entropy(disc.info(x, x1)[0], a)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = val_ce()
    assert before > 0.9 * math.log(N_ACTIONS)  # starts at chance
    assert after < 0.5 * math.log(N_ACTIONS), (before, after)
