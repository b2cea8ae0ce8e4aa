"""Baselines: built by the factory, trained by the shared trainer, driven through the Simulator API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gamegan.checkpoint import load_model
from gamegan.config import ConfigError, ModelConfig, preset
from gamegan.data import SequenceData
from gamegan.envs import DreamBatch
from gamegan.model.baselines import LATENTS_KEY, MDNRNN, ActionLSTM, WorldModels
from gamegan.model.factory import MODEL_KINDS, build_model
from gamegan.model.types import Batch, StepContext
from gamegan.train import train


def _config(kind: str) -> ModelConfig:
    config = preset("tiny").model
    config.kind = kind
    config.wm_latent_dim, config.wm_mixtures = 8, 3
    return config


def _batch(b: int = 3, t: int = 5, size: int = 32, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(b, t, 3, size, size, generator=g) * 2 - 1
    actions = torch.randint(0, 5, (b, t - 1), generator=g)
    return Batch(frames=frames, actions=actions, wrong_actions=(actions + 1) % 5)


def test_factory_builds_every_kind_and_names_them_in_errors():
    assert {"action-lstm", "world-models"} <= set(MODEL_KINDS)
    assert isinstance(build_model(_config("action-lstm")), ActionLSTM)
    assert isinstance(build_model(_config("world-models")), WorldModels)
    with pytest.raises(ConfigError, match="action-lstm, world-models"):
        build_model(_config("nope"))


@pytest.mark.parametrize("kind,phases,logged", [
    ("action-lstm", ["lstm"], ["loss/lstm/recon"]),
    ("world-models", ["vae", "mdnrnn"], ["loss/vae/recon", "loss/vae/kl", "loss/mdnrnn/nll"]),
])
def test_baseline_trains_with_the_shared_trainer_and_plays(tiny_recording, tmp_path, kind, phases, logged):
    config = preset("tiny")
    config.model.kind = kind
    config.train.steps, config.train.seq_len, config.train.log_every, config.train.device = 2, 6, 1, "cpu"
    result = train(config, tiny_recording, tmp_path / "run", progress=False)
    assert result.step == 2 and result.nonfinite_steps == 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for key in logged + [f"loss/{p}/total" for p in phases]:
        assert all(math.isfinite(x[key]) for x in lines if "step" in x and "event" not in x), key
    model, loaded, step = load_model(tmp_path / "run")
    assert step == 2 and loaded.model.kind == kind
    assert [p.name for p in model.phases(loaded.loss)] == phases
    sim, batch = model.simulator, _batch()
    with torch.no_grad():
        state = sim.warmup(batch.frames[:, :3], batch.actions[:, :2])
        assert torch.equal(state.frame, batch.frames[:, 2])
        frame, state, extras = sim.step(state, batch.actions[:, 2])
        assert frame.shape == (3, 3, 32, 32) and torch.equal(state.frame, frame)
        assert extras["components"].shape == (3, 1, 3, 32, 32) and extras["masks"].shape == (3, 1, 1, 32, 32)
        assert frame.min() >= -1 and frame.max() <= 1
        rollout = sim.rollout(batch.frames, batch.actions, warmup=2)
        assert rollout.frames.shape == (3, 4, 3, 32, 32) and rollout.warmup == 2
    dream = DreamBatch(tmp_path / "run", 2)  # an agent can learn in a baseline's dream too
    first = dream.reset([0, 1], [3, 4])
    frames, rewards, terminated, truncated = dream.step(np.array([1, 4]))
    assert first.shape == frames.shape == (2, 32, 32, 3) and rewards.shape == terminated.shape == (2,)


def test_action_lstm_is_deterministic_and_its_phase_fits_a_batch(tiny_recording):
    torch.manual_seed(0)
    model = ActionLSTM(_config("action-lstm"))
    batch = SequenceData(tiny_recording, seq_len=4).sample(np.random.default_rng(0), 2)
    assert model.net.memory is None and model.net.config.renderer == "simple"
    with torch.no_grad():
        a = model.rollout(batch.frames, batch.actions, 2)
        b = model.rollout(batch.frames, batch.actions, 2, z=torch.randn(2, 3, 8))
    assert torch.equal(a.frames, b.frames) and a.z is None  # no noise anywhere
    # The rollout's early predictions do not see the future: changing frames after warm-up is invisible.
    changed = batch.frames.clone()
    changed[:, 2:] = 0
    with torch.no_grad():
        assert torch.equal(model.rollout(changed, batch.actions, 2).frames, a.frames)
    (phase,) = model.phases(preset("tiny").loss)
    opt = torch.optim.Adam(phase.module.parameters(), lr=3e-3)
    losses = []
    for step in range(25):
        loss, logs = phase.loss(batch, StepContext(step=step, warmup=3))
        assert logs["loss/lstm/recon"] == pytest.approx(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_action_lstm_loss_honours_the_recon_horizon_decay(tiny_recording):
    torch.manual_seed(0)
    model = ActionLSTM(_config("action-lstm"))
    batch = SequenceData(tiny_recording, seq_len=5).sample(np.random.default_rng(0), 2)
    cfg = preset("tiny").loss
    ctx = StepContext(step=0, warmup=1)
    with torch.no_grad():
        full = model.phases(cfg)[0].loss(batch, ctx)[0]
        cfg.recon_horizon_decay = 0.5
        decayed = model.phases(cfg)[0].loss(batch, ctx)[0]
    assert 0 < decayed < full  # predictions 2-4 of 4 are free-running and weigh 1/2, 1/4, 1/8


def test_world_models_phases_train_the_right_parts():
    torch.manual_seed(0)
    model, batch = WorldModels(_config("world-models")), _batch()
    vae, rnn = model.phases(preset("tiny").loss)
    ctx = StepContext(step=0, warmup=2)
    loss, logs = vae.loss(batch, ctx)
    loss.backward()
    assert all(p.grad is not None for p in model.vae.parameters())
    assert all(p.grad is None for p in model.mdnrnn.parameters())
    latents = ctx.scratch[LATENTS_KEY]
    assert latents.shape == (3, 5, 8) and not latents.requires_grad
    model.zero_grad(set_to_none=True)
    for context in (ctx, StepContext(step=0, warmup=2)):  # with the VAE's latents, and on its own
        loss, logs = rnn.loss(batch, context)
        loss.backward()
        assert math.isfinite(logs["loss/mdnrnn/nll"])
        assert all(p.grad is None for p in model.vae.parameters())
        assert all(p.grad is not None for p in model.mdnrnn.parameters())


def test_mdn_likelihood_and_sampling_are_those_of_the_mixture():
    b, t, latent, k = 2, 3, 4, 3
    g = torch.Generator().manual_seed(0)
    log_pi = torch.log_softmax(torch.randn(b, t, latent, k, generator=g), dim=-1)
    mu, log_sigma = torch.randn(b, t, latent, k, generator=g), 0.3 * torch.randn(b, t, latent, k, generator=g)
    target = torch.randn(b, t, latent, generator=g)
    normal = torch.distributions.Normal(mu, log_sigma.exp())
    expected = -torch.logsumexp(log_pi + normal.log_prob(target[..., None]), dim=-1).mean()
    torch.testing.assert_close(MDNRNN.nll((log_pi, mu, log_sigma), target), expected)
    # At temperature 0 a draw is the mean of the most likely component; near 0, close to it.
    mixture = tuple(x[:, 0] for x in (log_pi, mu, log_sigma))
    best = mixture[1].gather(-1, mixture[0].argmax(-1, keepdim=True))[..., 0]
    assert torch.equal(MDNRNN.sample(mixture, 0.0), best)
    torch.testing.assert_close(MDNRNN.sample(mixture, 1e-6), best, atol=1e-2, rtol=0)
    # At temperature 1, many draws have the mixture's mean.
    wide = tuple(x[:1].expand(20000, -1, -1) for x in mixture)
    mean = (wide[0].exp() * wide[1]).sum(-1)[0]
    torch.testing.assert_close(MDNRNN.sample(wide, 1.0).mean(0), mean, atol=0.05, rtol=0)


def test_world_models_warmup_matches_rollout_and_noise_makes_rollouts_differ():
    torch.manual_seed(0)
    model, batch = WorldModels(_config("world-models")), _batch()
    with torch.no_grad():
        state = model.warmup(batch.frames[:, :3], batch.actions[:, :2])
        _, _, (h, c) = model.mdnrnn(model.vae.encode(batch.frames[:, :2].flatten(0, 1))[0].unflatten(0, (3, 2)),
                                    batch.actions[:, :2])
        torch.testing.assert_close(state.h, h[0])
        torch.testing.assert_close(state.extra["latent"], model.vae.encode(batch.frames[:, 2])[0])
        a = model.rollout(batch.frames, batch.actions, 2).frames
        b = model.rollout(batch.frames, batch.actions, 2).frames
        model.config.wm_temperature = 0.0
        c1 = model.rollout(batch.frames, batch.actions, 2).frames
        c2 = model.rollout(batch.frames, batch.actions, 2).frames
    assert not torch.equal(a, b)  # sampling: two futures
    assert torch.equal(c1, c2)  # temperature 0: no randomness
