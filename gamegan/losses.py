"""Every GameGAN loss term (DESIGN section 5), for the generator phase and the discriminator phase.

Both entry points return `(loss, logs)`: the weighted total to back-propagate and a dict of
unweighted terms as floats, keyed `loss/G/<term>` or `loss/D/<term>` (plus `.../total`).

Conventions worth knowing when tuning weights:
- `recon` (pixel MSE, or L1 with `recon_l1`) and `mask_l1` are summed over the pixels of a
  frame and averaged over frames, as in the official GameGAN code; their small default weights (0.05, 7.5e-5) assume
  that. Every other term is a plain mean.
- Generated transitions are (x̂_t, x̂_{t+1}) with x̂_0 the real first frame, so the generated
  sequence the discriminators see has the same T frames as the real one.
- The temporal discriminator's scales are averaged, so it weighs like one head.
- R1 is E||∇_x D(x)||² on real inputs, computed per discriminator (single-frame, action,
  temporal). The single-frame and action penalties are averaged under weight `r1`, the
  temporal one (its scales together) takes `r1_temporal`. When lazy (`r1_every` > 1) it is
  computed only on steps divisible by `r1_every` and multiplied by it (StyleGAN2), which
  keeps its expected strength at a fraction of the cost.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from gamegan.config import LossConfig
from gamegan.model.discriminator import Discriminator, DiscOutput
from gamegan.model.types import Batch, Rollout


class CycleModel(Protocol):
    """What `generator_loss` needs from a generator beyond its rollout."""

    def cycle_loss(self, rollout: Rollout) -> Tensor: ...


# --- hinge adversarial terms ----------------------------------------------------------------

def hinge_real(logits: Tensor) -> Tensor:
    """D's hinge term for inputs that should score as real: mean(relu(1 - D))."""
    return F.relu(1.0 - logits.float()).mean()


def hinge_fake(logits: Tensor) -> Tensor:
    """D's hinge term for inputs that should score as fake: mean(relu(1 + D))."""
    return F.relu(1.0 + logits.float()).mean()


def hinge_generator(logits: Tensor) -> Tensor:
    """G's hinge term: -mean(D(fake)); it falls as the fakes' logits rise."""
    return -logits.float().mean()


def r1_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """||∇_inputs Σ logits||² / logits.numel(): the R1 penalty E||∇_x D(x)||².

    With one logit per independent input (rows of `inputs`) this is exactly the mean squared
    gradient norm per input. Where logits share inputs (overlapping frame pairs, temporal
    windows) it is the per-logit average of the summed gradient, a close and cheap stand-in.
    """
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().pow(2).sum() / logits.numel()


# --- shared helpers ---------------------------------------------------------------------------

def generated_sequence(batch: Batch, rollout: Rollout) -> Tensor:
    """The generated sequence as D sees it: real x_0, then the predictions. (B, T, 3, S, S)"""
    return torch.cat([batch.frames[:, :1], rollout.frames], dim=1)


def _temporal_mean(terms: list[Tensor]) -> Tensor:
    return torch.stack(terms).mean()


def _finish(prefix: str, terms: dict[str, Tensor], weights: dict[str, float]) -> tuple[Tensor, dict[str, float]]:
    total = sum(weights[name] * value for name, value in terms.items())
    names = [*terms, "total"]
    # One device sync for all logs instead of one per term.
    values = torch.stack([v.detach().float() for v in terms.values()] + [total.detach().float()]).tolist()
    return total, {f"loss/{prefix}/{name}": value for name, value in zip(names, values)}


# --- generator ------------------------------------------------------------------------------

def motion_map(real: Tensor, fake: Tensor | None = None, threshold: float = 0.1) -> Tensor:
    """Pixels of each next real frame that differ from the frame before, grown by one pixel:
    real (B, T, 3, S, S) -> (B, T-1, 1, S, S) of 0/1. This is where the sprites were and went.

    With `fake` (B, T-1, 3, S, S), pixels where the prediction differs from the real frame
    before are marked too: a sprite the model erased or smeared where the real one held still
    (the agent bumping into a wall) then weighs as much as one that moved. The map carries no
    gradient either way.
    """
    prev = real[:, :-1]
    changed = (real[:, 1:] - prev).abs().amax(dim=2, keepdim=True) > threshold  # (B, T-1, 1, S, S)
    if fake is not None:
        changed |= (fake.detach() - prev).abs().amax(dim=2, keepdim=True) > threshold
    grown = F.max_pool2d(changed.flatten(0, 1).float(), kernel_size=3, stride=1, padding=1)
    return grown.unflatten(0, changed.shape[:2])


def horizon_weights(steps: int, warmup: int, decay: float, device: torch.device | str = "cpu") -> Tensor:
    """Weight of each of a rollout's `steps` predictions for the terms that compare it with
    the one real future: decay ** (free-running steps before it), (steps,).

    Prediction t was made from the real frame t when t < warmup (weight 1) and from the
    model's own frames after that; the k-th prediction in a row from its own frames weighs
    decay ** k. With decay < 1, the far future, where a sprite may be in any of several cells,
    is left to the discriminators, which accept any of them, instead of a regression to the
    recorded one, which prefers no sprite at all once no single cell is likelier than not.
    """
    t = torch.arange(steps, dtype=torch.float32, device=device)  # made where it is used: no copy per step
    return decay ** (t - max(1, warmup) + 1).clamp(min=0)


def agent_pixels(batch: Batch, cfg: LossConfig) -> Tensor | None:
    """Pixels whose `recon` keeps weight 1 at every horizon (`cfg.recon_horizon_keep_agent`):
    the data's agent mask before and after each step, (B, T-1, 1, S, S) bool; None when off.
    ValueError when asked for but the batch carries no `agent` masks."""
    if not cfg.recon_horizon_keep_agent:
        return None
    if batch.agent is None:
        raise ValueError("loss.recon_horizon_keep_agent needs batches with the agent mask (Batch.agent); "
                         "load the data with agent=True")
    return batch.agent[:, 1:] | batch.agent[:, :-1]


def pixel_recon(fake: Tensor, real: Tensor, cfg: LossConfig | None = None,
                step_weights: Tensor | None = None, keep: Tensor | None = None) -> Tensor:
    """Squared error (absolute error with `cfg.recon_l1`) summed over a frame's pixels,
    averaged over frames (see module doc); plain MSE without `cfg`.

    With `cfg.recon_motion` > 0, pixels in `motion_map(real)` count 1 + recon_motion times: a
    3x3 sprite is a fraction of a percent of a 64x64 frame, so plain MSE barely sees it.
    `cfg.recon_motion_fake` adds the pixels the prediction changed to that map
    (`motion_map(real, fake)`). `step_weights` (T-1,) scales each prediction's error
    (`horizon_weights`), except on the pixels `keep` (B, T-1, 1, S, S) marks, which keep
    weight 1 (`agent_pixels`). The weight `cfg.recon`
    is the caller's to apply.
    """
    cfg = cfg or LossConfig()  # its defaults: no motion weight, squared error
    diff = fake.float() - real[:, 1:].float()  # (B, T-1, 3, S, S)
    error = diff.abs() if cfg.recon_l1 else diff.pow(2)
    if cfg.recon_motion > 0:
        moved = motion_map(real.float(), fake.float() if cfg.recon_motion_fake else None)
        error = error * (1 + cfg.recon_motion * moved)
    if step_weights is None:
        return error.flatten(2).sum(-1).mean()
    if keep is not None:  # per pixel; otherwise per frame, which spares a full-size product every step
        return (error * torch.maximum(step_weights[..., None, None, None], keep.float())).flatten(2).sum(-1).mean()
    return (error.flatten(2).sum(-1) * step_weights).mean()


def rollout_recon(batch: Batch, rollout: Rollout, cfg: LossConfig) -> Tensor:
    """`pixel_recon` of a rollout against its batch, each prediction weighed by how far it
    ran free (`horizon_weights` of `rollout.warmup`), the agent's pixels kept (`agent_pixels`)."""
    steps = horizon_weights(rollout.frames.shape[1], rollout.warmup, cfg.recon_horizon_decay, rollout.frames.device)
    return pixel_recon(rollout.frames, batch.frames, cfg, steps, agent_pixels(batch, cfg))


# The RGB axes and the four diagonals: enough one-dimensional views to tell the few flat
# colours of a sprite game apart, and fixed, so the term is deterministic.
_COLOUR_DIRECTIONS = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (1, 1, -1), (1, -1, 1), (-1, 1, 1))


def colour_distance(fake: Tensor, real: Tensor) -> Tensor:
    """Sliced Wasserstein-1 distance between the pixel colours of each predicted frame and of
    its real frame: fake (B, T-1, 3, S, S) against real[:, 1:] of (B, T, 3, S, S).

    Each frame's pixels are projected on fixed colour directions and sorted; the distance is
    the absolute difference of the sorted values, summed over pixels like `pixel_recon` and
    averaged over directions and frames. Where things are drops out, what colours there are
    and how much of each does not: a sprite drawn at half strength, or missing, or red where the
    real one is blue, costs about its area times the colour change.
    """
    directions = torch.tensor(_COLOUR_DIRECTIONS, dtype=torch.float32, device=fake.device)
    directions = directions / directions.norm(dim=1, keepdim=True)

    def sorted_projections(frames: Tensor) -> Tensor:  # (B, T-1, D, S*S)
        return torch.einsum("btchw,dc->btdhw", frames.float(), directions).flatten(3).sort(dim=-1).values

    return (sorted_projections(fake) - sorted_projections(real[:, 1:])).abs().sum(-1).mean()


def generator_loss(generator: CycleModel, discriminator: Discriminator, batch: Batch, rollout: Rollout,
                   cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """All generator terms for one rollout over `batch`.

    Adversarial (hinge, every head), info-head action CE and z MSE on generated transitions,
    L1 feature matching of D's frame features against the real next frames, pixel MSE,
    the memory cycle loss (when the rollout has memory attention) and the L1 of the dynamic
    fine masks (when the renderer has more than one component). Steps nothing; D's
    parameters should be frozen by the caller (the trainer does).
    """
    real = batch.frames  # (B, T, 3, S, S)
    fake = rollout.frames  # (B, T-1, 3, S, S)
    paired = horizon_weights(fake.shape[1], rollout.warmup, cfg.recon_horizon_decay, fake.device)
    out = discriminator(generated_sequence(batch, rollout), batch.actions)
    with torch.no_grad():
        real_features = discriminator.features(real[:, 1:])  # per block (B, T-1, C, H, W)

    terms: dict[str, Tensor] = {
        # Frame heads score only the predictions, not the real x_0 in front of them.
        "adv_frame": hinge_generator(out.frame[:, 1:]) + hinge_generator(out.patch[:, 1:]),
        "adv_action": hinge_generator(out.action),
        "adv_temporal": _temporal_mean([hinge_generator(t) for t in out.temporal]),
        "action": F.cross_entropy(out.info_action.flatten(0, 1).float(), batch.actions.flatten()),
        "feat_match": torch.stack([
            ((f[:, 1:].float() - r.float()).abs().flatten(2).mean(-1) * paired).mean()
            for f, r in zip(out.features, real_features)
        ]).mean(),
        "recon": rollout_recon(batch, rollout, cfg),
    }
    weights = {"adv_frame": cfg.adv, "adv_action": cfg.adv, "adv_temporal": cfg.adv, "action": cfg.action,
               "feat_match": cfg.feat_match, "recon": cfg.recon}
    if cfg.colour > 0:
        terms["colour"] = colour_distance(fake, real)
        weights["colour"] = cfg.colour
    if rollout.z is not None:
        terms["z_recon"] = F.mse_loss(out.info_z.float(), rollout.z.detach().float())
        weights["z_recon"] = cfg.z_recon
    if rollout.alphas is not None:  # the model has memory
        terms["cycle"] = generator.cycle_loss(rollout)
        weights["cycle"] = cfg.cycle
    if rollout.masks is not None and rollout.masks.shape[2] > 1:
        dynamic = rollout.masks[:, :, 1:]  # (B, T-1, K-1, 1, S, S)
        terms["mask_l1"] = dynamic.float().abs().flatten(2).sum(-1).mean()
        weights["mask_l1"] = cfg.mask_l1
    return _finish("G", terms, weights)


# --- discriminator --------------------------------------------------------------------------

def r1_due(cfg: LossConfig, step: int) -> bool:
    """Whether this D step computes the (lazy) R1 penalty."""
    if cfg.r1_every < 1:
        raise ValueError(f"r1_every must be >= 1, got {cfg.r1_every}")
    return (cfg.r1 > 0 or cfg.r1_temporal > 0) and step % cfg.r1_every == 0


def discriminator_loss(discriminator: Discriminator, batch: Batch, rollout: Rollout, cfg: LossConfig, *,
                       step: int = 0) -> tuple[Tensor, dict[str, float]]:
    """All discriminator terms; `rollout` must be detached from the generator.

    Real and generated sequences go through D in one forward (concatenated on the batch
    axis). Hinge terms: single-frame (global + patch), action-conditioned with its three
    cases (real pair + true action is real; real pair + wrong action and generated pair +
    true action are fake), temporal. Info head: action CE on real pairs, z MSE on generated
    pairs. R1 on real inputs when `r1_due(cfg, step)`.
    """
    B = batch.frames.shape[0]
    with_r1 = r1_due(cfg, step)
    real = batch.frames.detach().requires_grad_(with_r1)  # (B, T, 3, S, S)
    fake = generated_sequence(batch, rollout).detach()  # (B, T, 3, S, S)
    out = discriminator(
        torch.cat([real, fake]), batch.actions.repeat(2, 1), wrong_actions=batch.wrong_actions.repeat(2, 1),
    )
    terms = _d_terms(out, batch, rollout, B)
    weights = {"adv_frame": cfg.adv, "adv_action": cfg.adv, "adv_temporal": cfg.adv, "action": cfg.action,
               "z_recon": cfg.d_z_recon}
    if with_r1 and cfg.r1 > 0:
        # Lazy regularisation: applied every r1_every steps at r1_every times the weight.
        terms["r1_frame"] = r1_penalty(out.frame[:B] + out.patch[:B].mean(-1), real)
        terms["r1_action"] = r1_penalty(out.action[:B], real)
        weights["r1_frame"] = weights["r1_action"] = cfg.r1 * cfg.r1_every / 2
    if with_r1 and cfg.r1_temporal > 0:
        terms["r1_temporal"] = r1_penalty(torch.cat([t[:B] for t in out.temporal], dim=1), real)
        weights["r1_temporal"] = cfg.r1_temporal * cfg.r1_every
    return _finish("D", terms, weights)


def _d_terms(out: DiscOutput, batch: Batch, rollout: Rollout, B: int) -> dict[str, Tensor]:
    # Rows [:B] are real sequences, [B:] generated ones; generated frame 0 is the real x_0,
    # so the single-frame heads skip it there.
    terms = {
        "adv_frame": hinge_real(out.frame[:B]) + hinge_real(out.patch[:B])
        + hinge_fake(out.frame[B:, 1:]) + hinge_fake(out.patch[B:, 1:]),
        "adv_action": hinge_real(out.action[:B]) + hinge_fake(out.wrong_action[:B]) + hinge_fake(out.action[B:]),
        "adv_temporal": _temporal_mean([hinge_real(t[:B]) + hinge_fake(t[B:]) for t in out.temporal]),
        "action": F.cross_entropy(out.info_action[:B].flatten(0, 1).float(), batch.actions.flatten()),
    }
    if rollout.z is not None:
        terms["z_recon"] = F.mse_loss(out.info_z[B:].float(), rollout.z.detach().float())
    return terms
