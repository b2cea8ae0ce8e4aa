"""The GameGAN generator: encoder + dynamics engine + memory + rendering engine, as a
`Simulator` (see types.py) that play, eval and training all drive.

One step, from the current frame x_t and action a_t:

    s_t            = encoder(x_t)
    h_t, c_t       = engine(s_t, a_t, z_t, m_{t-1}, h_{t-1}, c_{t-1})
    M, alpha, m_t  = memory(M, alpha, h_t, h_{t-1}, a_t)          (when enabled)
    x_{t+1}        = renderer(h_t, m_t)

With a windowed memory (`memory_read = "window"`) the memory also takes writer(x_t), the
frame's patch, and m_t is the window of cells around alpha (the engine reads its centre).

`rollout` is the training path: the same step, fed real frames for the first `warmup` inputs
and the model's own detached predictions afterwards, batched wherever the recurrence allows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gamegan.config import ModelConfig
from gamegan.model.encoder import Encoder
from gamegan.model.engine import DynamicsEngine
from gamegan.model.memory import Memory, WindowWriter
from gamegan.model.renderer import DisentanglingRenderer, Rendered, SimpleRenderer
from gamegan.model.types import Rollout, SimState, rollout_shape


PLAY_MEMORY_SIZE = 129
"""Grid side of a windowed memory in play: 64 moves from the start in any direction."""


class Generator(nn.Module):
    """GameGAN's generator, built from a `ModelConfig`.

    `hard_memory` (default False) makes the memory's kernel, gate and attention one-hot at
    every step; play sets it so the position does not blur over long sessions. It is for
    play and evaluation only: argmax passes no gradient to the kernel and gate networks.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        _check(config)
        self.config = config
        h = config.hidden_dim
        read_dim = config.memory_dim if config.memory else None
        window = config.memory_window if config.memory and config.memory_read == "window" else 0
        self.encoder = Encoder(frame_size=config.frame_size, channels=config.encoder_channels, out_dim=h)
        self.engine = DynamicsEngine(
            n_actions=config.n_actions, z_dim=config.z_dim, state_dim=h, hidden_dim=h,
            embed_dim=config.embed_dim, read_dim=read_dim,
        )
        self.memory = Memory(
            size=config.memory_size, dim=config.memory_dim, hidden_dim=h, embed_dim=config.embed_dim,
            action_names=config.action_names, tau=config.memory_tau,
            tie_opposite_kernels=config.tie_opposite_kernels, window=window, gate=config.memory_gate,
        ) if config.memory else None
        # A windowed memory writes what the input frame shows, where it shows it.
        self.writer = WindowWriter(frame_size=config.frame_size, channels=config.encoder_channels,
                                   dim=config.memory_dim, window=window) if window else None
        if config.renderer == "simple":
            self.renderer: nn.Module = SimpleRenderer(
                frame_size=config.frame_size, code_dim=h + (read_dim or 0), channels=config.renderer_channels,
                renderer_input=config.renderer_input,
            )
        else:
            self.renderer = DisentanglingRenderer(
                frame_size=config.frame_size, hidden_dim=h, read_dim=read_dim, n_components=config.n_components,
                code_dim=config.dynamic_code_dim, attribute_channels=config.attribute_channels,
                channels=config.renderer_channels, mask_temperature=config.mask_temperature,
                renderer_input=config.renderer_input, read_window=window,
            )
        self.hard_memory = False

    def for_play(self, memory_size: int = PLAY_MEMORY_SIZE) -> "Generator":
        """Set up for stepping by a player or an agent, not for training: evaluation mode and
        hard memory attention (a position that does not blur over a long session), and a
        windowed memory grown to `memory_size` cells a side, so that a long walk does not
        reach its border (training windows need a few cells; no weight depends on the size)."""
        self.eval()
        self.hard_memory = True
        if self.memory is not None and self.memory.window and self.memory.size < memory_size:
            self.memory.resize(memory_size)
        return self

    @property
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part: 'encoder', 'engine', 'memory' (empty without memory), 'renderer'."""
        return {
            "encoder": list(self.encoder.parameters()),
            "engine": list(self.engine.parameters()),
            "memory": (list(self.memory.parameters()) + list(self.writer.parameters() if self.writer else []))
            if self.memory is not None else [],
            "renderer": list(self.renderer.parameters()),
        }

    @property
    def source_names(self) -> list[str]:
        """What each blend weight of a rollout (`masks`, then `copy`) draws: 'static' (from
        memory) and 'dynamic k' with memory, 'component k' without, 'drawn' for the simple
        renderer; 'copy' (the input frame) with `renderer_input`."""
        c = self.config
        if c.renderer == "simple":
            names = ["drawn"]
        elif c.memory:
            names = ["static"] + [f"dynamic {k}" for k in range(1, c.n_components)]
        else:
            names = [f"component {k}" for k in range(c.n_components)]
        return names + (["copy"] if c.renderer_input else [])

    # -- the Simulator API -------------------------------------------------------------------

    def initial_state(self, frame: Tensor) -> SimState:
        """State before any step: zero h/c; empty memory attended at its centre. frame (B, 3, S, S)."""
        b, hd = frame.shape[0], self.config.hidden_dim
        h = frame.new_zeros(b, hd)
        state = SimState(frame=frame, h=h, c=torch.zeros_like(h))
        if self.memory is not None:
            state.memory, state.alpha, state.read = self.memory.initial(b, device=frame.device, dtype=frame.dtype)
        return state

    def warmup(self, frames: Tensor, actions: Tensor, z: Tensor | None = None) -> SimState:
        """Feed real frames (B, T0, 3, S, S) and their actions (B, T0-1); returns the state
        whose `frame` is the last real frame. z (B, T0-1, Z) defaults to fresh noise.

        Nothing is rendered: the frames the engine sees are the real ones.
        """
        b, t0 = frames.shape[:2]
        if actions.shape != (b, t0 - 1):
            raise ValueError(f"warmup: expected actions ({b}, {t0 - 1}), got {tuple(actions.shape)}")
        z = self._noise(b, t0 - 1, frames) if z is None else z
        state = self.initial_state(frames[:, 0])
        if t0 > 1:
            codes = self.encoder(frames[:, :-1].flatten(0, 1)).unflatten(0, (b, t0 - 1))  # (B, T0-1, H)
            patches = self._patches(frames[:, :-1])
            for t in range(t0 - 1):
                state = self._advance(state, codes[:, t], actions[:, t], z[:, t],
                                      None if patches is None else patches[:, t])
        state.frame = frames[:, -1]
        return state

    def step(
        self, state: SimState, action: Tensor, z: Tensor | None = None,
    ) -> tuple[Tensor, SimState, dict[str, Tensor]]:
        """Apply actions (B,) to `state.frame`: returns (next frame (B, 3, S, S), new state,
        extras 'components' (B, K, 3, S, S), 'masks' (B, K, 1, S, S), 'z' and, with memory,
        'alpha' (B, N, N) and 'gate' (B,))."""
        z = self._noise(action.shape[0], None, state.frame) if z is None else z
        previous = state.frame
        patch = self.writer(previous) if self.writer is not None else None
        state = self._advance(state, self.encoder(previous), action, z, patch)
        out = self.renderer(state.h, state.read, previous=previous)
        state.frame = out.frame
        extras = {"components": out.components, "masks": out.masks, "z": z}
        if self.memory is not None:
            extras["alpha"] = state.alpha
            extras["gate"] = state.extra["gate"]
        return out.frame, state, extras

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        """Predict frames[:, 1:] (B, T, 3, S, S) from actions (B, T-1).

        Input t is the real frames[:, t] for t < warmup (clamped to [1, T-1]) and the
        model's own prediction of it, detached, afterwards. Only predictions that are fed back are rendered inside the loop; the
        rest are rendered in one batch at the end. With memory, `extra` holds 'reads'
        (B, T-1, D) and 'gates' (B, T-1).
        """
        b, n, first_own = rollout_shape(frames, actions, warmup)  # inputs before first_own are real
        z = self._noise(b, n, frames) if z is None else z
        real = self.encoder(frames[:, :first_own].flatten(0, 1)).unflatten(0, (b, first_own))  # (B, w, H)
        real_patches = self._patches(frames[:, :first_own])  # (B, w, 2D, W, W) with a windowed memory
        state = self.initial_state(frames[:, 0])
        steps: list[SimState] = []
        inputs: list[Tensor] = []  # the frame each step was applied to
        drawn: dict[int, Rendered] = {}
        for t in range(n):
            if t < first_own:
                inputs.append(frames[:, t])
                s, patch = real[:, t], None if real_patches is None else real_patches[:, t]
            else:
                inputs.append(drawn[t - 1].frame.detach())
                s, patch = self.encoder(inputs[t]), self.writer(inputs[t]) if self.writer is not None else None
            state = self._advance(state, s, actions[:, t], z[:, t], patch)
            steps.append(state)
            if first_own - 1 <= t < n - 1:  # the next input may be this prediction: draw it now
                drawn[t] = self.renderer(state.h, state.read, previous=inputs[t])
        later = [t for t in range(n) if t not in drawn]
        out = self._render_many([steps[t] for t in later], [inputs[t] for t in later])
        for i, t in enumerate(later):
            drawn[t] = Rendered(*(None if x is None else x[i] for x in out))
        final = steps[-1]
        final.frame = drawn[n - 1].frame
        extra = {}
        if self.memory is not None:
            extra["reads"] = torch.stack([s.read for s in steps], dim=1)  # (B, n, D) m_t, or (B, n, D, W, W)
            extra["gates"] = torch.stack([s.extra["gate"] for s in steps], dim=1)  # (B, n)
        return Rollout(
            frames=torch.stack([drawn[t].frame for t in range(n)], dim=1),  # (B, n, 3, S, S)
            warmup=first_own,
            z=z,
            components=torch.stack([drawn[t].components for t in range(n)], dim=1),  # (B, n, K, 3, S, S)
            masks=torch.stack([drawn[t].masks for t in range(n)], dim=1),  # (B, n, K, 1, S, S)
            copy=torch.stack([drawn[t].copy for t in range(n)], dim=1) if self.config.renderer_input else None,
            alphas=torch.stack([s.alpha for s in steps], dim=1) if self.memory is not None else None,
            hidden=torch.stack([s.h for s in steps], dim=1),  # (B, n, H)
            final_state=final,
            extra=extra,
        )

    # -- losses that need the generator's insides --------------------------------------------

    def cycle_loss(self, rollout: Rollout) -> Tensor:
        """Memory cycle loss (unweighted L1, summed per frame): re-read the final memory at every past alpha_t,
        draw the static component from it, and match the static component drawn at time t,
        weighted by its fine mask. Both targets are detached, and the renderer runs on
        detached copies of its parameters, so in the same backward pass as every other loss
        this trains only the encoder, engine and memory (never the renderer). Zero (a tensor
        that accepts backward) without memory or without a static component.
        """
        has_static = self.memory is not None and isinstance(self.renderer, DisentanglingRenderer)
        if not has_static:
            return torch.zeros((), device=rollout.frames.device, requires_grad=torch.is_grad_enabled())
        b, n = rollout.alphas.shape[:2]
        reads = self.read_memory(rollout.final_state.memory, rollout.alphas)  # (B, n, D) or (B, n, D, W, W)
        frozen = {name: p.detach() for name, p in self.renderer.named_parameters()}
        again = functional_call(self.renderer, frozen, (None, reads.flatten(0, 1)), {"static_only": True})
        redrawn = again.frame.unflatten(0, (b, n))  # (B, n, 3, S, S)
        target = rollout.components[:, :, 0].detach()  # (B, n, 3, S, S) static component at time t
        weight = rollout.masks[:, :, 0].detach()  # (B, n, 1, S, S)
        # Summed over a frame's pixels, averaged over frames: the same reduction as the pixel
        # reconstruction loss, which the default weights (0.05 each, as in GameGAN) assume.
        return (weight * (redrawn - target).abs()).sum(dim=(-3, -2, -1)).mean()

    # -- internals ---------------------------------------------------------------------------

    def read_memory(self, memory: Tensor, alpha: Tensor) -> Tensor:
        """What the static component draws from: alpha^T M (B, ..., D), or with a windowed
        memory the cells around alpha (B, ..., D, W, W). memory (B, N*N, D), alpha (B, ..., N, N)."""
        if self.writer is not None:
            return Memory.read_window(memory, alpha, self.config.memory_window)
        return Memory.read(memory, alpha)

    def _patches(self, frames: Tensor) -> Tensor | None:
        """The windowed memory's erase/add patches of frames (B, T, 3, S, S) -> (B, T, 2D, W, W)."""
        if self.writer is None:
            return None
        return self.writer(frames.flatten(0, 1)).unflatten(0, frames.shape[:2])

    def _advance(self, state: SimState, s: Tensor, action: Tensor, z: Tensor, patch: Tensor | None = None) -> SimState:
        """Engine (and memory) update from the encoded input s (B, H) (and, with a windowed
        memory, the input frame's patch); renders nothing."""
        read = state.read
        if read is not None and read.dim() == 4:  # a window: the engine takes its centre, alpha^T M
            mid = read.shape[-1] // 2
            read = read[..., mid, mid]
        h, c = self.engine(s, action, z, read, state.h, state.c)
        new = SimState(frame=state.frame, h=h, c=c)
        if self.memory is not None:
            new.memory, new.alpha, new.read, gate = self.memory(
                state.memory, state.alpha, h, state.h, action, hard=self.hard_memory, patch=patch,
            )
            new.extra["gate"] = gate
        return new

    def _render_many(self, states: list[SimState], inputs: list[Tensor]) -> tuple[Tensor | None, ...]:
        """Render several steps' states (and the frames they were applied to) as one batch;
        each field comes back (len, B, ...)."""
        if not states:
            return (None,) * len(Rendered._fields)
        h = torch.stack([s.h for s in states])  # (L, B, H)
        read = torch.stack([s.read for s in states]) if self.memory is not None else None  # (L, B, D)
        out = self.renderer(h.flatten(0, 1), None if read is None else read.flatten(0, 1),
                            previous=torch.stack(inputs).flatten(0, 1))
        return tuple(None if x is None else x.unflatten(0, h.shape[:2]) for x in out)

    def _noise(self, b: int, n: int | None, like: Tensor) -> Tensor:
        shape = (b, self.config.z_dim) if n is None else (b, n, self.config.z_dim)
        return torch.randn(shape, device=like.device, dtype=like.dtype)


def _check(config: ModelConfig) -> None:
    """Reject configs the generator cannot build, with the reason."""
    if config.renderer not in ("simple", "disentangling"):
        raise ValueError(f"unknown renderer '{config.renderer}' (choose simple or disentangling)")
    if config.renderer == "simple" and config.n_components != 1:
        raise ValueError(f"the simple renderer draws one component; n_components is {config.n_components}")
    if config.renderer == "disentangling" and config.n_components < 2:
        raise ValueError(f"the disentangling renderer needs n_components >= 2, got {config.n_components}")
    if config.memory_read not in ("cell", "window"):
        raise ValueError(f"unknown memory_read '{config.memory_read}' (choose cell or window)")
    if config.memory and config.memory_read == "window" and config.renderer != "disentangling":
        raise ValueError("a windowed memory read is drawn by the static component: use the disentangling renderer")
    if len(config.action_names) != config.n_actions:
        raise ValueError(f"{len(config.action_names)} action names for {config.n_actions} actions")
