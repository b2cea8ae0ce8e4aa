"""The two baselines every GameGAN figure is compared with (DESIGN section 5, Baselines).

Both are trained by the same trainer through `phases()` and play through the same
`Simulator` API as GameGAN, so `gamegan train --model ...`, play and eval take them as they are.

- `ActionLSTM` (after Chiappa et al. 2017, as in the GameGAN paper): GameGAN's encoder and
  action-conditioned dynamics engine with a deterministic decoder (the simple renderer), no
  memory, no noise (z is fixed at zero), trained with pixel MSE only. One phase, "lstm".
- `WorldModels` (Ha & Schmidhuber 2018): a VAE per frame and an MDN-RNN that models the next
  latent given the current latent and action. Phases "vae" (reconstruction + KL), then
  "mdnrnn" (mixture negative log-likelihood of the next latent, on detached VAE latents).
  Simulating samples the next latent from the mixture and decodes it; the sampled latent,
  not a re-encoding of the decoded frame, is what the next step starts from.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.config import LossConfig, ModelConfig
from gamegan.losses import rollout_recon
from gamegan.model.encoder import Encoder
from gamegan.model.generator import Generator
from gamegan.model.renderer import SimpleRenderer
from gamegan.model.types import Batch, Phase, Rollout, SimState, StepContext, rollout_shape

LATENTS_KEY = "wm_latents"
"""ctx.scratch key where the "vae" phase leaves detached latents for the "mdnrnn" phase."""


def baseline_config(config: ModelConfig) -> ModelConfig:
    """`config` as a baseline builds it: no memory and one simple component, whatever the preset
    said. A baseline keeps this as its `config`, so eval and play see what it really has (no
    static component to swap or view)."""
    return dataclasses.replace(config, memory=False, renderer="simple", n_components=1)


class ActionLSTM(nn.Module):
    """Encoder + dynamics engine + simple renderer, deterministic; it is its own simulator.

    The config's memory and renderer settings are overridden (no memory, simple renderer),
    so any preset works with `--model action-lstm`. `z` arguments are ignored: the engine
    always sees zero noise.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = baseline_config(config)
        self.net = Generator(self.config)

    @property
    def simulator(self) -> "ActionLSTM":
        return self

    def phases(self, loss_cfg: LossConfig) -> list[Phase]:
        """One phase: pixel MSE of every predicted frame, with GameGAN's extra weight on moving
        pixels (`loss_cfg.recon_motion`, `recon_motion_fake`, `recon_l1`, `recon_horizon_decay`,
        `recon_horizon_keep_agent`), averaged over pixels."""
        pixels = 3 * self.config.frame_size**2

        def loss(batch: Batch, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
            rollout = self.rollout(batch.frames, batch.actions, ctx.warmup)
            recon = rollout_recon(batch, rollout, loss_cfg) / pixels
            return recon, {"loss/lstm/recon": float(recon.detach())}

        return [Phase("lstm", self, loss)]

    def warmup(self, frames: Tensor, actions: Tensor, z: Tensor | None = None) -> SimState:
        """Feed real frames (B, T0, 3, S, S) and actions (B, T0-1); `frame` is the last real one."""
        return self.net.warmup(frames, actions, z=self._zeros(frames, actions.shape[1]))

    def step(self, state: SimState, action: Tensor, z: Tensor | None = None) -> tuple[Tensor, SimState, dict[str, Tensor]]:
        """Next frame (B, 3, S, S), new state, extras ('components', 'masks')."""
        frame, state, extras = self.net.step(state, action, z=self._zeros(state.frame, None))
        extras.pop("z", None)
        return frame, state, extras

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        """Predict frames[:, 1:] from actions (B, T-1), the first `warmup` inputs real."""
        out = self.net.rollout(frames, actions, warmup, z=self._zeros(frames, actions.shape[1]))
        out.z = None
        return out

    def _zeros(self, like: Tensor, n: int | None) -> Tensor:
        shape = (like.shape[0], self.config.z_dim) if n is None else (like.shape[0], n, self.config.z_dim)
        return like.new_zeros(shape)


class FrameVAE(nn.Module):
    """Frame (N, 3, S, S) <-> latent (N, L): GameGAN's encoder with mean/log-variance heads,
    and the simple renderer as decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        h, latent = config.hidden_dim, config.wm_latent_dim
        self.encoder = Encoder(frame_size=config.frame_size, channels=config.encoder_channels, out_dim=h)
        self.to_mean = nn.Linear(h, latent)
        self.to_logvar = nn.Linear(h, latent)
        self.decoder = SimpleRenderer(frame_size=config.frame_size, code_dim=latent, channels=config.renderer_channels)

    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 3, S, S) -> mean, log-variance (N, L) each."""
        x = self.encoder(frames)
        return self.to_mean(x), self.to_logvar(x).clamp(-10.0, 10.0)

    def decode(self, latent: Tensor) -> Tensor:
        """(N, L) -> (N, 3, S, S) in [-1, 1]."""
        return self.decoder(latent).frame


class MDNRNN(nn.Module):
    """LSTM over [latent_t, one-hot a_t] with a mixture density head for latent_{t+1}:
    per latent dimension, K Gaussians (log-weights, means, log-sigmas)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_actions, self.latent, self.k = config.n_actions, config.wm_latent_dim, config.wm_mixtures
        self.lstm = nn.LSTM(self.latent + self.n_actions, config.hidden_dim, batch_first=True)
        self.head = nn.Linear(config.hidden_dim, 3 * self.latent * self.k)

    def forward(self, latents: Tensor, actions: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[tuple[Tensor, Tensor, Tensor], Tensor, tuple[Tensor, Tensor]]:
        """latents (B, T, L), actions (B, T) -> mixture (log_pi, mu, log_sigma) each
        (B, T, L, K), hidden states (B, T, H), final (h, c) each (1, B, H)."""
        a = F.one_hot(actions, self.n_actions).to(latents.dtype)  # (B, T, A)
        hidden, state = self.lstm(torch.cat([latents, a], dim=-1), state)  # (B, T, H)
        params = self.head(hidden).unflatten(-1, (3, self.latent, self.k))  # (B, T, 3, L, K)
        log_pi = F.log_softmax(params[:, :, 0], dim=-1)
        return (log_pi, params[:, :, 1], params[:, :, 2].clamp(-7.0, 5.0)), hidden, state

    @staticmethod
    def nll(mixture: tuple[Tensor, Tensor, Tensor], target: Tensor) -> Tensor:
        """Mean negative log-likelihood of target (B, T, L) under the per-dimension mixtures."""
        log_pi, mu, log_sigma = mixture
        z = (target[..., None] - mu) * torch.exp(-log_sigma)  # (B, T, L, K)
        log_normal = -0.5 * z**2 - log_sigma - 0.5 * math.log(2 * math.pi)
        return -torch.logsumexp(log_pi + log_normal, dim=-1).mean()

    @staticmethod
    def sample(mixture: tuple[Tensor, Tensor, Tensor], temperature: float) -> Tensor:
        """One draw per dimension: (B, L, K) mixture -> (B, L). Temperature sharpens the
        component choice and scales the spread, as in the World Models paper; at 0 the draw
        is the mean of the most likely component (no randomness)."""
        log_pi, mu, log_sigma = mixture
        if temperature <= 0:
            return mu.gather(-1, log_pi.argmax(-1, keepdim=True))[..., 0]
        k = torch.distributions.Categorical(logits=log_pi / temperature).sample()[..., None]  # (B, L, 1)
        mean, sigma = mu.gather(-1, k)[..., 0], log_sigma.gather(-1, k)[..., 0].exp()
        return mean + sigma * math.sqrt(temperature) * torch.randn_like(mean)


class WorldModels(nn.Module):
    """VAE + MDN-RNN; it is its own simulator. `z` arguments are ignored: the noise is the
    mixture sampling itself."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if len(config.action_names) != config.n_actions:
            raise ValueError(f"{len(config.action_names)} action names for {config.n_actions} actions")
        self.config = baseline_config(config)
        self.vae = FrameVAE(config)
        self.mdnrnn = MDNRNN(config)

    @property
    def simulator(self) -> "WorldModels":
        return self

    def phases(self, loss_cfg: LossConfig) -> list[Phase]:
        """"vae" (pixel MSE on [0, 1] + weighted KL above the free nats), then "mdnrnn"."""
        return [Phase("vae", self.vae, self._vae_loss), Phase("mdnrnn", self.mdnrnn, self._mdnrnn_loss)]

    def _vae_loss(self, batch: Batch, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        frames = batch.frames.flatten(0, 1)  # (B*T, 3, S, S)
        mean, logvar = self.vae.encode(frames)
        latent = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        recon = (((self.vae.decode(latent) - frames) / 2) ** 2).mean()  # on the paper's [0, 1] scale
        kl = (-0.5 * (1 + logvar - mean**2 - logvar.exp())).sum(-1).mean()  # nats per frame
        # The paper sums the pixel error per frame; dividing both terms by the pixel count keeps
        # its balance between reconstruction and KL with a loss of readable size.
        pixels = frames[0].numel()
        loss = recon + cfg.wm_kl_weight * kl.clamp_min(cfg.wm_kl_free_nats * cfg.wm_latent_dim) / pixels
        ctx.scratch[LATENTS_KEY] = latent.detach().unflatten(0, batch.frames.shape[:2])
        return loss, {"loss/vae/recon": float(recon.detach()), "loss/vae/kl": float(kl.detach())}

    def _mdnrnn_loss(self, batch: Batch, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
        latents = ctx.scratch.get(LATENTS_KEY)
        if latents is None:  # run on its own: encode here, without gradients into the VAE
            with torch.no_grad():
                mean, logvar = self.vae.encode(batch.frames.flatten(0, 1))
                latents = (mean + torch.randn_like(mean) * (0.5 * logvar).exp()).unflatten(0, batch.frames.shape[:2])
        mixture, _, _ = self.mdnrnn(latents[:, :-1], batch.actions)  # predicts latents[:, 1:]
        nll = MDNRNN.nll(mixture, latents[:, 1:])
        return nll, {"loss/mdnrnn/nll": float(nll.detach())}

    # -- the Simulator API -------------------------------------------------------------------

    def warmup(self, frames: Tensor, actions: Tensor, z: Tensor | None = None) -> SimState:
        """Feed real frames (B, T0, 3, S, S) and actions (B, T0-1); `frame` is the last real
        one and `extra['latent']` its VAE mean."""
        b, t0 = frames.shape[:2]
        if actions.shape != (b, t0 - 1):
            raise ValueError(f"warmup: expected actions ({b}, {t0 - 1}), got {tuple(actions.shape)}")
        means = self.vae.encode(frames.flatten(0, 1))[0].unflatten(0, (b, t0))  # (B, T0, L)
        h = frames.new_zeros(1, b, self.config.hidden_dim)
        state = (h, torch.zeros_like(h))
        if t0 > 1:
            _, _, state = self.mdnrnn(means[:, :-1], actions, state)
        return SimState(frame=frames[:, -1], h=state[0][0], c=state[1][0], extra={"latent": means[:, -1]})

    def step(self, state: SimState, action: Tensor, z: Tensor | None = None) -> tuple[Tensor, SimState, dict[str, Tensor]]:
        """Sample the next latent from the mixture and decode it: (B, 3, S, S), new state, extras."""
        mixture, _, (h, c) = self.mdnrnn(state.extra["latent"][:, None], action[:, None], (state.h[None], state.c[None]))
        latent = MDNRNN.sample(tuple(m[:, 0] for m in mixture), self.config.wm_temperature)  # (B, L)
        frame = self.vae.decode(latent)
        new = SimState(frame=frame, h=h[0], c=c[0], extra={"latent": latent})
        return frame, new, {"components": frame[:, None], "masks": torch.ones_like(frame[:, None, :1]), "latent": latent}

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        """Predict frames[:, 1:] (B, T, 3, S, S) from actions (B, T-1): the first `warmup`
        inputs are VAE means of real frames, later ones the latents the model sampled."""
        b, n, w = rollout_shape(frames, actions, warmup)
        real = self.vae.encode(frames[:, :w].flatten(0, 1))[0].unflatten(0, (b, w))  # (B, w, L)
        h = frames.new_zeros(1, b, self.config.hidden_dim)
        state: tuple[Tensor, Tensor] = (h, torch.zeros_like(h))
        # Teacher-forced part in one LSTM call; its last step already predicts input w.
        mixture, hidden, state = self.mdnrnn(real, actions[:, :w], state)
        sampled = [MDNRNN.sample(tuple(m[:, t] for m in mixture), self.config.wm_temperature) for t in range(w)]
        hiddens = [hidden]
        for t in range(w, n):
            mixture, hidden, state = self.mdnrnn(sampled[-1][:, None], actions[:, t:t + 1], state)
            sampled.append(MDNRNN.sample(tuple(m[:, 0] for m in mixture), self.config.wm_temperature))
            hiddens.append(hidden)
        latents = torch.stack(sampled, dim=1)  # (B, n, L)
        out = self.vae.decode(latents.flatten(0, 1)).unflatten(0, (b, n))  # (B, n, 3, S, S)
        final = SimState(frame=out[:, -1], h=state[0][0], c=state[1][0], extra={"latent": latents[:, -1]})
        return Rollout(frames=out, warmup=w, components=out[:, :, None], masks=torch.ones_like(out[:, :, None, :1]),
                       hidden=torch.cat(hiddens, dim=1), final_state=final, extra={"latents": latents})
