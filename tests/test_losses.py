"""GameGAN losses: hinge terms, R1, which parameters each loss reaches, and the G/D phases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.config import LossConfig, ModelConfig, preset
from gamegan.losses import (
    colour_distance, discriminator_loss, generator_loss, hinge_fake, hinge_generator, hinge_real, horizon_weights,
    motion_map, pixel_recon, r1_due, r1_penalty, rollout_recon,
)
from gamegan.model.discriminator import Discriminator, DiscOutput
from gamegan.model.gamegan import GameGAN, detach_rollout
from gamegan.model.generator import Generator
from gamegan.model.types import Batch, Rollout, StepContext

S, A, Z = 32, 5, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def model_config(**overrides) -> ModelConfig:
    base = dict(frame_size=S, n_actions=A, z_dim=Z, hidden_dim=32, embed_dim=16, encoder_channels=8,
                memory=True, memory_size=5, memory_dim=16, renderer="disentangling", n_components=2,
                renderer_channels=8, dynamic_code_dim=16, attribute_channels=4, disc_channels=8)
    base.update(overrides)
    return ModelConfig(**base)


def make_batch(b: int = 2, t: int = 4, seed: int = 0, value: float | None = None) -> Batch:
    g = torch.Generator().manual_seed(seed)
    if value is None:
        frames = torch.rand(b, t, 3, S, S, generator=g) * 2 - 1
    else:
        frames = torch.full((b, t, 3, S, S), value)
    # Every action id appears, so every row of the action embedding is used.
    actions = torch.arange(b * (t - 1)).remainder(A).view(b, t - 1)
    wrong = (actions + 1 + torch.randint(0, A - 1, actions.shape, generator=g)) % A
    return Batch(frames=frames, actions=actions, wrong_actions=wrong)


class TinyGenerator(nn.Module):
    """A stand-in generator: each prediction is a K-component blend of convs of the real
    previous frame, conditioned on the action and z. `memory` adds alphas and a cycle loss."""

    def __init__(self, *, k: int = 2, memory: bool = True) -> None:
        super().__init__()
        self.k = k
        self.embed = nn.Embedding(A, 8)
        self.z_proj = nn.Linear(Z, 8)
        self.rgb = nn.Conv2d(3 + 8, 3 * k, 3, padding=1)
        self.mask = nn.Conv2d(3 + 8, k, 3, padding=1)
        self.cycle_weight = nn.Parameter(torch.ones(())) if memory else None

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        b, n = actions.shape
        z = torch.randn(b, n, Z) if z is None else z
        cond = (self.embed(actions) + self.z_proj(z)).flatten(0, 1)  # (B*n, 8)
        h = torch.cat([frames[:, :-1].flatten(0, 1), cond[:, :, None, None].expand(-1, -1, S, S)], dim=1)
        comps = torch.tanh(self.rgb(h)).view(b, n, self.k, 3, S, S)
        masks = torch.softmax(self.mask(h), dim=1).view(b, n, self.k, 1, S, S)
        alphas = torch.full((b, n, 3, 3), 1 / 9) if self.cycle_weight is not None else None
        return Rollout(frames=(comps * masks).sum(2), z=z, components=comps, masks=masks, alphas=alphas)

    def cycle_loss(self, rollout: Rollout) -> Tensor:
        return self.cycle_weight * rollout.components[:, :, 0].abs().mean()


def with_grads(module: nn.Module) -> dict[str, bool]:
    """Which parameters got a gradient. Biases only need to be reached: a hinge term over as
    many real as fake logits, all inside the margin, gives its bias exactly zero gradient."""
    return {name: p.grad is not None and (name.endswith("bias") or bool(p.grad.abs().sum() > 0))
            for name, p in module.named_parameters()}


# --- hinge and R1 ---------------------------------------------------------------------------

def test_motion_map_marks_changed_pixels_and_their_neighbours() -> None:
    real = torch.zeros(1, 3, 3, 8, 8)
    real[0, 1:, 0, 4, 4] = 1.0  # a pixel lights up in frame 1 and stays in frame 2
    real[0, 1:, 2, 0, 7] = 0.05  # a change below the threshold (compression noise)
    moved = motion_map(real)
    assert moved.shape == (1, 2, 1, 8, 8)
    assert moved[0, 0, 0].sum() == 9 and moved[0, 0, 0, 3:6, 3:6].all()
    assert moved[0, 1].sum() == 0  # nothing changed between frames 1 and 2


def test_pixel_recon_weights_moving_pixels() -> None:
    real = torch.zeros(1, 2, 3, 8, 8)
    real[0, 1, :, 0, 0] = 1.0  # the only change: one corner pixel, 4 pixels once grown
    fake = real[:, 1:].clone()
    fake[0, 0, :, 7, 7] = 1.0  # an error far from it
    assert pixel_recon(fake, real) == pixel_recon(fake, real, LossConfig(recon_motion=10.0)) == 3.0
    fake = real[:, 1:].clone()
    fake[0, 0, :, 0, 1] = 1.0  # the same error next to the change: in the grown map
    assert pixel_recon(fake, real) == 3.0
    assert pixel_recon(fake, real, LossConfig(recon_motion=10.0)) == 33.0


def test_motion_map_with_fake_marks_what_the_prediction_erased() -> None:
    real = torch.zeros(1, 2, 3, 8, 8)
    real[0, :, 0, 2, 2] = 1.0  # a sprite pixel that holds still (Pac-Man against a wall)
    fake = real[:, 1:].clone()
    fake[0, 0, 0, 2, 2] = 0.0  # the prediction erased it
    assert motion_map(real).sum() == 0  # nothing moved in the real frames
    marked = motion_map(real, fake)
    assert marked[0, 0, 0].sum() == 9 and marked[0, 0, 0, 1:4, 1:4].all()
    assert pixel_recon(fake, real, LossConfig(recon_motion=10.0)) == 1.0  # the real-only map ignores it
    assert pixel_recon(fake, real, LossConfig(recon_motion=10.0, recon_motion_fake=True)) == 11.0


def test_l1_recon_draws_the_likelier_outcome_whole() -> None:
    # A pixel that turns on in 3 of 4 real futures: squared error prefers a faded 0.75,
    # absolute error the whole 1.0 (the median), which is what keeps a ghost visible.
    real = torch.zeros(4, 2, 3, 1, 1)
    real[:3, 1] = 1.0

    def total(value: float, l1: bool) -> float:
        return float(pixel_recon(torch.full((4, 1, 3, 1, 1), value), real, LossConfig(recon_l1=l1)))
    assert total(0.75, l1=False) < min(total(1.0, l1=False), total(0.5, l1=False))
    assert total(1.0, l1=True) < min(total(0.75, l1=True), total(0.5, l1=True))
    assert total(1.0, l1=True) == 0.75  # |1 - 0| x 3 channels on the one frame of 4 where it stays off


def sprite_frames(cells: list[tuple[int, int]], colour: tuple[float, float, float]) -> Tensor:
    """(1, 2, 3, S, S): a black frame, then one with a 4x4 sprite of `colour` at each cell."""
    frames = torch.full((1, 2, 3, S, S), -1.0)
    for y, x in cells:
        frames[0, 1, :, y:y + 4, x:x + 4] = torch.tensor(colour).view(3, 1, 1)
    return frames


def test_colour_distance_ignores_where_a_sprite_is_but_not_whether_it_is_whole_or_its_colour() -> None:
    red, blue = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)
    real = sprite_frames([(4, 4)], red)
    assert colour_distance(sprite_frames([(20, 12)], red)[:, 1:], real).item() == pytest.approx(0.0, abs=1e-4)
    faded = sprite_frames([(20, 12)], (0.0, -1.0, -1.0))[:, 1:]
    missing = sprite_frames([], red)[:, 1:]
    recoloured = sprite_frames([(4, 4)], blue)[:, 1:]
    # Every projection of 16 pixels moves by the colour change along it, averaged over directions.
    assert 0 < colour_distance(faded, real) < colour_distance(missing, real)
    assert colour_distance(recoloured, real).item() > 16 * 0.5
    # Pixel error, by contrast, rates a whole sprite one cell away worse than no sprite at all.
    moved = sprite_frames([(20, 12)], red)[:, 1:]
    assert pixel_recon(moved, real) > pixel_recon(missing, real)


def test_colour_term_joins_the_generator_loss_at_full_weight_on_every_horizon() -> None:
    batch = make_batch(seed=2)
    rollout = stub_rollout(2, 4, 0.0)
    rollout.frames = batch.frames[:, 1:].flip(-1)  # right colours, wrong places
    rollout.warmup = 1
    off = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig())[1]
    assert "loss/G/colour" not in off
    logs = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout,
                          LossConfig(colour=2.0, recon_horizon_decay=0.5))[1]
    assert logs["loss/G/colour"] == pytest.approx(0.0, abs=1e-3) and logs["loss/G/recon"] > 0
    rollout.frames = rollout.frames.clone()
    rollout.frames[:, -1] = rollout.frames[:, -1] * 0.5  # the last, most free-running, prediction fades
    faded = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout,
                           LossConfig(colour=2.0, recon_horizon_decay=0.5))[1]
    expected = colour_distance(rollout.frames, batch.frames).item()
    assert faded["loss/G/colour"] == pytest.approx(expected, rel=1e-5) and expected > 1.0
    without = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig(recon_horizon_decay=0.5))[1]
    assert faded["loss/G/total"] - without["loss/G/total"] == pytest.approx(2.0 * expected, rel=1e-3)


def test_hinge_terms_vanish_when_separated_and_have_the_right_signs() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -2.5])
    assert hinge_real(real) + hinge_fake(fake) == 0  # perfectly separated: nothing to learn
    assert hinge_real(fake) + hinge_fake(real) == pytest.approx(2.75 + 3.0)  # swapped: penalised
    assert hinge_real(torch.zeros(3)) == hinge_fake(torch.zeros(3)) == 1
    # D wants real logits up and fake logits down: the gradients say so.
    x = torch.zeros(4, requires_grad=True)
    (g_real,) = torch.autograd.grad(hinge_real(x), x)
    (g_fake,) = torch.autograd.grad(hinge_fake(x), x)
    assert (g_real < 0).all() and (g_fake > 0).all()
    # G's term falls as the fake logits rise, with no floor.
    assert hinge_generator(torch.tensor([2.0])) < hinge_generator(torch.tensor([0.5])) < hinge_generator(torch.tensor([-3.0]))


def test_r1_matches_hand_computed_gradient_norms() -> None:
    x = torch.randn(6, 10, requires_grad=True)
    w = torch.randn(10)
    # Linear D(x) = w.x: the gradient is w for every row, so R1 = ||w||^2.
    assert r1_penalty(x @ w, x).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
    # D(x) = sum(x^2): gradient 2x, so R1 = mean over rows of ||2 x_i||^2.
    expected = (2 * x.detach()).pow(2).sum(1).mean()
    assert r1_penalty(x.pow(2).sum(1), x).item() == pytest.approx(expected.item(), rel=1e-5)
    # It is differentiable (R1 trains D through a second backward pass).
    (grad_w,) = torch.autograd.grad(r1_penalty(x @ w.requires_grad_(), x), w)
    torch.testing.assert_close(grad_w, 2 * w.detach())



def test_horizon_weights_decay_only_over_free_running_predictions() -> None:
    # Predictions 0 and 1 come from real frames; 2, 3, 4 are the 1st, 2nd, 3rd from the model's own.
    torch.testing.assert_close(horizon_weights(5, warmup=2, decay=0.5), torch.tensor([1, 1, 0.5, 0.25, 0.125]))
    torch.testing.assert_close(horizon_weights(3, warmup=0, decay=0.5), torch.tensor([1, 0.5, 0.25]))  # as warmup 1
    assert (horizon_weights(6, warmup=2, decay=1.0) == 1).all()


def test_generator_loss_weighs_far_predictions_less_with_a_horizon_decay() -> None:
    batch = make_batch(seed=1)  # T = 4: three predictions
    rollout = stub_rollout(2, 4, 0.0)
    rollout.frames = batch.frames[:, 1:].clone()
    rollout.frames[:, 2] = -batch.frames[:, 3]  # only the last prediction is wrong
    rollout.warmup = 2
    full = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig())[1]
    decayed = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig(recon_horizon_decay=0.25))[1]
    for key in ("loss/G/recon", "loss/G/feat_match"):
        assert full[key] > 0 and decayed[key] == pytest.approx(0.25 * full[key], rel=1e-5)
    # An error on a prediction made from a real frame keeps its full weight.
    rollout.warmup = 3
    early = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig(recon_horizon_decay=0.25))[1]
    assert early["loss/G/recon"] == pytest.approx(full["loss/G/recon"], rel=1e-5)


def test_pacman_keeps_his_full_recon_weight_under_a_horizon_decay() -> None:
    batch = make_batch(seed=2)  # T = 4: predictions 0, 1, 2; with warmup 1 the last weighs decay ** 2
    batch.agent = torch.zeros(2, 4, 1, S, S, dtype=torch.bool)
    batch.agent[:, 3, :, :4, :4] = True  # where he is in the frame predicted last
    batch.agent[:, 2, :, :4, 8:12] = True  # and where he was in the frame before it
    rollout = stub_rollout(2, 4, 0.0)
    rollout.frames = batch.frames[:, 1:].clone()
    for rows, cols in ((slice(0, 4), slice(0, 4)), (slice(0, 4), slice(8, 12)), (slice(20, 24), slice(20, 24))):
        rollout.frames[:, 2, :, rows, cols] += 0.5  # three equal errors: now, before, elsewhere

    def recon(**kw) -> float:
        return generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, LossConfig(**kw))[1]["loss/G/recon"]

    full, decay = recon(), 0.25**2
    assert recon(recon_horizon_decay=0.25) == pytest.approx(decay * full, rel=1e-5)
    kept = recon(recon_horizon_decay=0.25, recon_horizon_keep_agent=True)
    assert kept == pytest.approx(full * (2 + decay) / 3, rel=1e-5)
    batch.agent = None
    with pytest.raises(ValueError, match="Batch.agent"):
        recon(recon_horizon_decay=0.25, recon_horizon_keep_agent=True)


class MeanDisc(nn.Module):
    """A stub D scoring each frame by gain * its mean pixel; its heads are views of that score
    (a wrong action flips a pair's score; the info head is sure of the true action on pairs
    ending in a bright frame and predicts z = score / 5)."""

    def __init__(self, gain: float = 10.0) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(gain))

    def forward(self, frames: Tensor, actions: Tensor, wrong_actions: Tensor | None = None) -> DiscOutput:
        s = self.gain * frames.mean(dim=(-3, -2, -1))  # (B, T)
        b, t = s.shape
        return DiscOutput(
            frame=s, patch=s[..., None].expand(b, t, 4), action=s[:, 1:],
            wrong_action=None if wrong_actions is None else -s[:, 1:],
            info_action=4 * s[:, 1:, None] * F.one_hot(actions, A), info_z=(s[:, 1:, None] / 5).expand(b, t - 1, Z),
            temporal=[s.mean(1, keepdim=True), s[:, 1:].mean(1, keepdim=True)], features=[frames],
        )

    def features(self, frames: Tensor) -> list[Tensor]:
        return [frames]


def stub_rollout(b: int, t: int, value: float) -> Rollout:
    """Constant predicted frames; z is what `MeanDisc` reads off frames of -0.5."""
    return Rollout(frames=torch.full((b, t - 1, 3, S, S), value), z=torch.full((b, t - 1, Z), -1.0))


def test_discriminator_loss_is_zero_when_real_and_fake_are_separated() -> None:
    cfg = LossConfig(r1_every=2)
    batch, rollout = make_batch(value=0.5), stub_rollout(2, 4, -0.5)  # D scores +5 real, -5 fake
    _, logs = discriminator_loss(MeanDisc(), batch, rollout, cfg, step=1)  # odd step: no R1
    assert logs["loss/D/adv_frame"] == logs["loss/D/adv_action"] == logs["loss/D/adv_temporal"] == 0
    assert logs["loss/D/action"] == pytest.approx(0, abs=1e-6) and logs["loss/D/z_recon"] == 0
    assert not any("r1" in key for key in logs)

    # Swap them: every real and fake case is on the wrong side of the margin.
    batch, rollout = make_batch(value=-0.5), stub_rollout(2, 4, 0.5)
    _, logs = discriminator_loss(MeanDisc(), batch, rollout, cfg, step=1)
    assert logs["loss/D/adv_frame"] == pytest.approx(4 * 6)  # (global + patch) x (real + fake), 6 each
    assert logs["loss/D/adv_action"] == pytest.approx(6 + 6 + 6)  # real pair, real pair + wrong action, fake pair
    # Temporal, averaged over the two scales; the generated sequence starts at the real x_0.
    fake_means = [(-5 + 3 * 5) / 4, 5.0]
    assert logs["loss/D/adv_temporal"] == pytest.approx(sum(6 + 1 + m for m in fake_means) / 2)


def test_generator_adversarial_terms_fall_as_fakes_look_more_real() -> None:
    batch, cfg = make_batch(value=0.5), LossConfig()
    logs = [generator_loss(TinyGenerator(), MeanDisc(), batch, stub_rollout(2, 4, v), cfg)[1] for v in (-0.5, 0.0, 0.5)]
    for key in ("loss/G/adv_frame", "loss/G/adv_action", "loss/G/adv_temporal"):
        assert logs[0][key] > logs[1][key] > logs[2][key]
    # Only the predictions are scored as frames (global + patch), not the real x_0 before them.
    assert logs[0]["loss/G/adv_frame"] == pytest.approx(2 * 5.0)
    assert logs[2]["loss/G/feat_match"] == 0 and logs[2]["loss/G/recon"] == 0  # fakes equal the reals
    # Feature matching pairs each prediction with the real frame it predicts (the stub's
    # features are the frames themselves).
    batch, rollout = make_batch(seed=1), stub_rollout(2, 4, 0.0)
    rollout.frames = torch.rand(2, 3, 3, S, S) * 2 - 1
    _, logs = generator_loss(TinyGenerator(), MeanDisc(), batch, rollout, cfg)
    assert logs["loss/G/feat_match"] == pytest.approx(F.l1_loss(rollout.frames, batch.frames[:, 1:]).item(), rel=1e-5)


def test_r1_terms_on_the_stub_match_hand_computed_values_and_follow_the_lazy_schedule() -> None:
    cfg = LossConfig(r1_every=3)
    batch, rollout, disc = make_batch(b=2, t=4), stub_rollout(2, 4, 0.0), MeanDisc(gain=10.0)
    assert [r1_due(cfg, step) for step in range(5)] == [True, False, False, True, False]
    total_on, logs = discriminator_loss(disc, batch, rollout, cfg, step=3)
    total_off, _ = discriminator_loss(disc, batch, rollout, cfg, step=4)
    pixels = 3 * S * S
    # frame score = global + mean(patch) = 2 * gain * mean(x): gradient 2*gain/pixels per pixel.
    assert logs["loss/D/r1_frame"] == pytest.approx((2 * 10.0) ** 2 / pixels, rel=1e-4)
    # a pair's logit reads only x_{t+1}, gradient gain/pixels per pixel.
    assert logs["loss/D/r1_action"] == pytest.approx(10.0**2 / pixels, rel=1e-4)
    # lazy R1 is applied at r1_every times its weight; frame and action share `r1`.
    added = (cfg.r1 * 3 / 2 * (logs["loss/D/r1_frame"] + logs["loss/D/r1_action"])
             + cfg.r1_temporal * 3 * logs["loss/D/r1_temporal"])
    assert (total_on - total_off).item() == pytest.approx(added, rel=1e-4)
    with pytest.raises(ValueError, match="r1_every"):
        r1_due(LossConfig(r1_every=0), 0)
    # A zero weight skips that penalty's (costly) second backward pass altogether.
    _, logs = discriminator_loss(disc, batch, rollout, LossConfig(r1=0.0, r1_every=1), step=0)
    assert "loss/D/r1_frame" not in logs and "loss/D/r1_action" not in logs and "loss/D/r1_temporal" in logs


# --- the real discriminator: which parameters each loss reaches -----------------------------

def test_losses_stay_finite_on_saturated_and_constant_frames() -> None:
    torch.manual_seed(0)
    disc, cfg = Discriminator(model_config()), LossConfig(r1_every=1)
    for real, fake in [(1.0, -1.0), (0.0, 0.0)]:  # saturated pixels; constant frames (zero gradients)
        batch, rollout = make_batch(value=real), stub_rollout(2, 4, fake)
        rollout.z = torch.randn(2, 3, Z) * 1e3
        d_loss, d_logs = discriminator_loss(disc, batch, rollout, cfg, step=0)
        g_loss, g_logs = generator_loss(TinyGenerator(), disc, batch, rollout, cfg)
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
        assert all(math.isfinite(v) for v in [*d_logs.values(), *g_logs.values()])


def test_discriminator_loss_trains_every_discriminator_parameter_and_no_generator_one() -> None:
    torch.manual_seed(0)
    gen, disc, batch = TinyGenerator(), Discriminator(model_config()), make_batch()
    rollout = detach_rollout(gen.rollout(batch.frames, batch.actions, warmup=2))
    loss, logs = discriminator_loss(disc, batch, rollout, LossConfig(), step=0)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(with_grads(disc).values()), [k for k, v in with_grads(disc).items() if not v]
    assert all(p.grad is None for p in gen.parameters())
    for key in ("r1_frame", "r1_action", "r1_temporal"):
        assert logs[f"loss/D/{key}"] > 0  # the real D's output depends on its input
    assert set(logs) == {f"loss/D/{k}" for k in (
        "adv_frame", "adv_action", "adv_temporal", "action", "z_recon", "r1_frame", "r1_action", "r1_temporal", "total")}


def test_generator_loss_reaches_every_stand_in_parameter_and_weights_its_terms() -> None:
    torch.manual_seed(0)
    gen, disc, batch, cfg = TinyGenerator(), Discriminator(model_config()), make_batch(), LossConfig()
    rollout = gen.rollout(batch.frames, batch.actions, warmup=2)
    loss, logs = generator_loss(gen, disc, batch, rollout, cfg)
    loss.backward()
    assert all(with_grads(gen).values()), [k for k, v in with_grads(gen).items() if not v]
    # Pixel MSE is summed over a frame's pixels and averaged over frames.
    recon = (rollout.frames - batch.frames[:, 1:]).pow(2).sum(dim=(2, 3, 4)).mean()
    assert logs["loss/G/recon"] == pytest.approx(recon.item(), rel=1e-5)
    assert logs["loss/G/mask_l1"] == pytest.approx(rollout.masks[:, :, 1:].sum(dim=(2, 3, 4, 5)).mean().item(), rel=1e-5)
    weights = {"adv_frame": cfg.adv, "adv_action": cfg.adv, "adv_temporal": cfg.adv, "action": cfg.action,
               "z_recon": cfg.z_recon, "feat_match": cfg.feat_match, "recon": cfg.recon, "cycle": cfg.cycle,
               "mask_l1": cfg.mask_l1}
    assert set(logs) == {f"loss/G/{k}" for k in [*weights, "total"]}
    assert logs["loss/G/total"] == pytest.approx(sum(w * logs[f"loss/G/{k}"] for k, w in weights.items()), rel=1e-5)


def test_generator_loss_skips_terms_the_model_does_not_have() -> None:
    torch.manual_seed(0)
    gen, disc, batch = TinyGenerator(k=1, memory=False), Discriminator(model_config()), make_batch()
    rollout = gen.rollout(batch.frames, batch.actions, warmup=2)
    rollout.z = None
    _, logs = generator_loss(gen, disc, batch, rollout, LossConfig())
    assert not {"loss/G/cycle", "loss/G/mask_l1", "loss/G/z_recon"} & set(logs)
    _, logs = discriminator_loss(disc, batch, detach_rollout(rollout), LossConfig(), step=1)
    assert "loss/D/z_recon" not in logs


def test_generator_loss_reaches_every_parameter_of_the_real_generator() -> None:
    torch.manual_seed(0)
    config = model_config()
    gen, disc, batch = Generator(config), Discriminator(config), make_batch(t=5)
    rollout = gen.rollout(batch.frames, batch.actions, warmup=2)
    loss, logs = generator_loss(gen, disc, batch, rollout, LossConfig())
    loss.backward()
    assert torch.isfinite(loss) and "loss/G/cycle" in logs and "loss/G/mask_l1" in logs
    assert all(with_grads(gen).values()), [k for k, v in with_grads(gen).items() if not v]


# --- the GameGAN wrapper ------------------------------------------------------------------

def run_phases(model: GameGAN, batch: Batch, ctx: StepContext) -> dict[str, dict[str, float]]:
    """What the trainer does: per phase, freeze the other modules, zero grads, backward, step."""
    phases = model.phases(LossConfig(r1_every=1))
    logs = {}
    for phase in phases:
        for other in phases:
            other.module.requires_grad_(other is phase)
        model.zero_grad(set_to_none=True)
        loss, logs[phase.name] = phase.loss(batch, ctx)
        assert torch.isfinite(loss)
        loss.backward()
        torch.optim.SGD(phase.module.parameters(), lr=1e-3).step()
        for other in phases:
            if other is not phase:
                assert all(p.grad is None for p in other.module.parameters()), (phase.name, other.name)
    return logs


@pytest.mark.parametrize("config", [model_config(), preset("tiny").model], ids=["memory-K2", "tiny-preset"])
def test_gamegan_phases_run_g_then_d(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = GameGAN(config)
    assert model.simulator is model.generator
    phases = model.phases(LossConfig())
    assert [p.name for p in phases] == ["G", "D"]
    assert phases[0].module is model.generator and phases[1].module is model.discriminator

    ctx = StepContext(step=0, warmup=2)
    logs = run_phases(model, make_batch(t=5), ctx)
    assert ctx.scratch["rollout"].frames.shape == (2, 4, 3, S, S)
    assert not ctx.scratch["rollout"].frames.requires_grad  # D never reaches back into G
    for name in ("G", "D"):
        assert logs[name] and all(key.startswith(f"loss/{name}/") for key in logs[name])
        assert all(math.isfinite(v) for v in logs[name].values())
    assert "loss/D/r1_temporal" in logs["D"]
    assert ("loss/G/cycle" in logs["G"]) == config.memory  # cycle loss only with memory
    assert ("loss/G/mask_l1" in logs["G"]) == (config.n_components > 1)

    with pytest.raises(RuntimeError, match="phase 'G' first"):
        phases[1].loss(make_batch(t=5), StepContext(step=1, warmup=2))
