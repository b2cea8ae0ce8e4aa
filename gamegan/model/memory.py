"""External 2-D grid memory: where the simulator keeps the parts of the world it has seen.

State (all per sample, carried in `SimState`): memory M (B, N*N, D) with cells flattened
row-major, attention alpha (B, N, N) over cells, last read m (B, D). Each step:

    w     = softmax(MLP(a_t) / tau)                   3x3 shift kernel, action only
    g     = sigmoid(MLP(h_t - h_{t-1}))               move or stay (walking into a wall)
    alpha = g * shift(alpha, w) + (1 - g) * alpha
    M     = M * (1 - alpha e^T) + alpha add^T         erase e = sigmoid(.), add = tanh(.) from h_t
    m_t   = alpha^T M

Kernel convention: w[:, 1 + dy, 1 + dx] is the probability of moving the attention by
(dy rows down, dx columns right), so UP puts its mass at w[:, 0, 1] and RIGHT at w[:, 1, 2].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.model.layers import mlp

# Opposite actions, looked up by name (case-insensitive). The first name owns the kernel; the
# second uses it flipped along the axis of motion. Directions not listed here stay untied.
_OPPOSITES = (("UP", "DOWN", "vertical"), ("LEFT", "RIGHT", "horizontal"))
_FLIPS = {"none": 0, "vertical": 1, "horizontal": 2}


class Memory(nn.Module):
    """The memory module's parameters and its per-step update (functional: state in, state out)."""

    def __init__(
        self, *, size: int, dim: int, hidden_dim: int, embed_dim: int, action_names: list[str],
        tau: float, tie_opposite_kernels: bool,
    ):
        super().__init__()
        self.size, self.dim, self.tau = size, dim, tau
        source, flip = kernel_sharing(action_names, tie=tie_opposite_kernels)
        # Only kernels that are not copies get parameters: a tied DOWN has no weights of its own
        # (otherwise they would sit in the model receiving no gradient).
        owners = sorted(set(source))
        slot = {a: i for i, a in enumerate(owners)}
        self.n_free_kernels = len(owners)
        self.register_buffer("kernel_slot", torch.tensor([slot[s] for s in source]), persistent=False)
        self.register_buffer("kernel_flip", torch.tensor(flip), persistent=False)
        self.kernel_mlp = mlp(self.n_free_kernels, embed_dim, 9)
        self.gate_mlp = mlp(hidden_dim, embed_dim, 1)
        self.erase_add = nn.Linear(hidden_dim, 2 * dim)
        # kept[p] for a one-hot kernel: which cells have the kernel's target inside the grid;
        # precomputed as the 3x3 patches of a zero-padded all-ones grid.
        inside = F.unfold(F.pad(torch.ones(1, 1, size, size), (1, 1, 1, 1)), 3)[0]  # (9, N*N)
        self.register_buffer("inside", inside, persistent=False)

    # -- state -------------------------------------------------------------------------------

    def initial(self, batch: int, *, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """Empty memory, attention one-hot at the centre cell (N // 2, N // 2), zero read.

        For odd N that is the exact centre, with (N - 1) / 2 cells of room in every
        direction; for even N it is the lower-right of the four central cells.
        """
        n = self.size
        memory = torch.zeros(batch, n * n, self.dim, device=device, dtype=dtype)
        alpha = torch.zeros(batch, n * n, device=device, dtype=dtype)
        alpha[:, (n // 2) * n + n // 2] = 1.0
        read = torch.zeros(batch, self.dim, device=device, dtype=dtype)
        return memory, alpha.view(batch, n, n), read

    # -- the step ----------------------------------------------------------------------------

    def forward(
        self, memory: Tensor, alpha: Tensor, h: Tensor, h_prev: Tensor, action: Tensor, *, hard: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """memory (B, N*N, D), alpha (B, N, N), h/h_prev (B, H), action (B,) long
        -> memory, alpha, read (B, D), gate (B,).

        `hard` (play time): one-hot kernel, binary gate, one-hot attention, so the position
        stays sharp over thousands of steps instead of blurring a little every step.
        """
        kernel = self.kernels(action, hard=hard)  # (B, 3, 3)
        gate = torch.sigmoid(self.gate_mlp(h - h_prev)).squeeze(-1)  # (B,)
        if hard:
            gate = (gate > 0.5).to(h.dtype)
        alpha = self.move(alpha, kernel, gate)
        if hard:
            alpha = _one_hot_argmax(alpha.flatten(1)).view_as(alpha)
        erase, add = self.erase_add(h).chunk(2, dim=-1)  # (B, D) each
        memory = self.write(memory, alpha, torch.sigmoid(erase), torch.tanh(add))
        return memory, alpha, self.read(memory, alpha), gate

    def kernels(self, action: Tensor, *, hard: bool = False) -> Tensor:
        """(B,) action ids -> (B, 3, 3) shift kernels (softmax over the 9 offsets, or one-hot)."""
        eye = torch.eye(self.n_free_kernels, device=self.inside.device, dtype=self.inside.dtype)
        free = self.kernel_mlp(eye).view(-1, 3, 3)  # (n_free, 3, 3) logits, one per owned kernel
        variants = torch.stack([free, free.flip(-2), free.flip(-1)])  # (3, n_free, 3, 3)
        logits = variants[self.kernel_flip[action], self.kernel_slot[action]]  # (B, 3, 3)
        flat = logits.flatten(1)  # (B, 9)
        w = _one_hot_argmax(flat) if hard else torch.softmax(flat / self.tau, dim=-1)
        return w.view(-1, 3, 3)

    def move(self, alpha: Tensor, kernel: Tensor, gate: Tensor) -> Tensor:
        """alpha_t = g * shift(alpha, w) + (1 - g) * alpha, per sample. (B,N,N),(B,3,3),(B,) -> (B,N,N)."""
        g = gate[:, None, None]
        return g * self.shift(alpha, kernel) + (1 - g) * alpha

    def shift(self, alpha: Tensor, kernel: Tensor) -> Tensor:
        """Move attention mass by the per-sample kernel, clamping at the borders.

        Border policy: mass that a kernel would push off the grid stays where it is (like
        Pac-Man bumping into a wall) instead of vanishing. This conserves total mass exactly,
        so alpha stays a distribution without renormalising, and a hard one-hot attention at
        the edge remains one-hot (renormalising a one-hot that fell off would divide 0 by 0).
        """
        b, n, _ = alpha.shape
        patches = F.unfold(F.pad(alpha[:, None], (1, 1, 1, 1)), 3)  # (B, 9, N*N): alpha[p + e]
        w = kernel.flatten(1)  # (B, 9): w[d] = P(move by d)
        # new[p] = sum_d w[d] alpha[p - d]; patch offset e = -d is the flipped kernel index.
        moved = torch.einsum("bkp,bk->bp", patches, w.flip(-1))  # (B, N*N)
        kept = torch.einsum("kp,bk->bp", self.inside, w)  # (B, N*N): share whose target is on-grid
        stay = alpha.flatten(1) * (1 - kept)  # mass that would have left the grid
        return (moved + stay).view(b, n, n)

    @staticmethod
    def write(memory: Tensor, alpha: Tensor, erase: Tensor, add: Tensor) -> Tensor:
        """M * (1 - alpha e^T) + alpha add^T. memory (B, N*N, D), alpha (B, N, N), erase/add (B, D)."""
        a = alpha.flatten(1)[:, :, None]  # (B, N*N, 1)
        return memory * (1 - a * erase[:, None, :]) + a * add[:, None, :]

    @staticmethod
    def read(memory: Tensor, alpha: Tensor) -> Tensor:
        """alpha^T M: (B, N*N, D), (B, ..., N, N) -> (B, ..., D)."""
        return torch.einsum("b...p,bpd->b...d", alpha.flatten(-2), memory)


def kernel_sharing(action_names: list[str], *, tie: bool) -> tuple[list[int], list[int]]:
    """For each action, which action's kernel it uses and how it is flipped.

    Returns (source, flip): action a uses the kernel of action source[a] flipped by
    flip[a] (0 none, 1 vertical, 2 horizontal). With `tie`, DOWN = UP flipped vertically and
    RIGHT = LEFT flipped horizontally, wherever those names sit in the action list.
    """
    source = list(range(len(action_names)))
    flip = [0] * len(action_names)
    if tie:
        index = {}
        for i, name in enumerate(action_names):
            index.setdefault(name.upper(), i)
        for owner, follower, axis in _OPPOSITES:
            if owner in index and follower in index:
                source[index[follower]] = index[owner]
                flip[index[follower]] = _FLIPS[axis]
    return source, flip


def _one_hot_argmax(x: Tensor) -> Tensor:
    """(B, K) -> (B, K) one-hot of the row maximum."""
    return F.one_hot(x.argmax(-1), x.shape[-1]).to(x.dtype)
