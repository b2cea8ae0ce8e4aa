"""Dynamics engine: an action-conditioned LSTM cell with multiplicative input fusion.

e_t = [act(L(a_t)), act(L(z_t)), act(L(m_{t-1}))]   (the read embedding only with memory)
v_t = MLP(W_h h_{t-1} * W_e e_t) + L(s_t)            (4H gate pre-activations)
i, f, o = sigmoid(.), g = tanh(.);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

The product makes the action gate how the past state is carried forward, which is what
lets a single step move the agent by a whole cell in the direction pressed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.model.layers import act, mlp


class DynamicsEngine(nn.Module):
    """One LSTM step of the simulator; keyword-only sizes, no knowledge of frames."""

    def __init__(
        self, *, n_actions: int, z_dim: int, state_dim: int, hidden_dim: int, embed_dim: int,
        read_dim: int | None,
    ):
        super().__init__()
        self.n_actions, self.hidden_dim = n_actions, hidden_dim
        self.embed_action = nn.Linear(n_actions, embed_dim)
        self.embed_z = nn.Linear(z_dim, embed_dim)
        # Without memory there is no read m_{t-1}; the embedding is absent, not zero-fed.
        self.embed_read = nn.Linear(read_dim, embed_dim) if read_dim is not None else None
        n_embed = 3 if read_dim is not None else 2
        self.w_h = nn.Linear(hidden_dim, hidden_dim)
        self.w_e = nn.Linear(n_embed * embed_dim, hidden_dim)
        self.fuse = mlp(hidden_dim, hidden_dim, 4 * hidden_dim)
        self.from_state = nn.Linear(state_dim, 4 * hidden_dim)
        with torch.no_grad():
            # h_0 = 0, so without a bias in W_h the product would erase e_t (the action!) at
            # the first step; a bias of 1 lets e_t through unchanged until W_h h learns more.
            self.w_h.bias.fill_(1.0)
            # Forget gate starts open: remember by default.
            self.from_state.bias[hidden_dim:2 * hidden_dim].fill_(1.0)

    def forward(
        self, s: Tensor, action: Tensor, z: Tensor, read: Tensor | None, h: Tensor, c: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """s (B, state_dim), action (B,) long, z (B, Z), read (B, D) or None, h/c (B, H)
        -> new h, c (B, H)."""
        a = F.one_hot(action, self.n_actions).to(s.dtype)  # (B, A)
        parts = [act(self.embed_action(a)), act(self.embed_z(z))]
        if self.embed_read is not None:
            if read is None:
                raise ValueError("this engine was built with memory and needs the previous read")
            parts.append(act(self.embed_read(read)))
        e = torch.cat(parts, dim=-1)  # (B, n_embed * E)
        gates = self.fuse(self.w_h(h) * self.w_e(e)) + self.from_state(s)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c
