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
An action named NOOP (the format's "do nothing") has no learned kernel: it keeps the attention
where it is, whatever the gate says.

Windowed memory (`window` W > 0, not in GameGAN): the memory is a map of the world, one cell
per move, and the view spans W x W cells around alpha. Each step writes the input frame's
W x W patch of erase/add vectors (from `WindowWriter`) at the cells it shows, around alpha
before the move, then moves alpha and reads the W x W cells around it:

    M      = M * (1 - alpha (*) E) + alpha (*) A      (*): alpha convolved with the patch
    alpha  = g * shift(alpha, w) + (1 - g) * alpha
    window = alpha (*) M                              (B, D, W, W); its centre is alpha^T M

GameGAN decodes the whole view from one vector, which must learn that neighbouring cells
hold overlapping views; here a cell holds its own patch of the world, so walking back reads
back exactly what was written there. Both convolutions run as FFTs: alpha is soft while
training, and a direct convolution of a 41 x 41 attention is ~8x slower on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.model.layers import act, conv3x3, mlp

# Opposite actions, looked up by name (case-insensitive). The first name owns the kernel; the
# second uses it flipped along the axis of motion. Directions not listed here stay untied.
_OPPOSITES = (("UP", "DOWN", "vertical"), ("LEFT", "RIGHT", "horizontal"))
_FLIPS = {"none": 0, "vertical": 1, "horizontal": 2}
# The action that does nothing, by name: its kernel is the identity. Learned, it pointed up
# (0.86 of its mass in the shipped maze model, seen on 3 % of training steps), and the map gate,
# which sees cells but not actions, moved the view up whenever the cell above was open: standing
# still in play scrolled the maze, and half the swaps read the other map one row off.
STILL_ACTION = "NOOP"


class Memory(nn.Module):
    """The memory module's parameters and its per-step update (functional: state in, state out)."""

    def __init__(
        self, *, size: int, dim: int, hidden_dim: int, embed_dim: int, action_names: list[str],
        tau: float, tie_opposite_kernels: bool, window: int = 0, gate: str = "engine",
    ):
        super().__init__()
        if window and not (window % 2 == 1 and 3 <= window <= size):
            raise ValueError(f"memory window must be odd, >= 3 and <= the memory size {size}, got {window}")
        if gate not in ("engine", "map"):
            raise ValueError(f"unknown memory gate '{gate}' (choose engine or map)")
        if gate == "map" and not window:
            raise ValueError("the map gate reads the cells a windowed memory writes: use memory_read='window'")
        self.size, self.dim, self.tau, self.window, self.gate = size, dim, tau, window, gate
        source, flip = kernel_sharing(action_names, tie=tie_opposite_kernels)
        still = [name.upper() == STILL_ACTION for name in action_names]
        if all(still):
            raise ValueError(f"every action is {STILL_ACTION}: nothing moves the memory's attention")
        # Only kernels that are neither copies nor the identity get parameters: a tied DOWN has no
        # weights of its own (otherwise they would sit in the model receiving no gradient).
        owners = sorted({s for s, is_still in zip(source, still) if not is_still})
        slot = {a: i for i, a in enumerate(owners)}
        self.n_free_kernels, self._owners = len(owners), owners
        # Checkpoints written before the NOOP kernel was fixed also have a kernel for it.
        self._owners_before_still = sorted(set(source))
        # A still action's slot is never read: `kernels` puts the identity in its place.
        self.register_buffer("kernel_slot", torch.tensor([slot.get(s, 0) for s in source]), persistent=False)
        self.register_buffer("kernel_flip", torch.tensor(flip), persistent=False)
        self.register_buffer("kernel_still", torch.tensor(still), persistent=False)
        self.register_buffer("stay_kernel", F.one_hot(torch.tensor(4), 9).float(), persistent=False)  # centre offset
        self.kernel_mlp = mlp(self.n_free_kernels, embed_dim, 9)
        # engine: from h_t - h_{t-1}; map: from the cell attended and the cell the kernel points to.
        self.gate_mlp = mlp(hidden_dim if gate == "engine" else 2 * dim, embed_dim, 1)
        # GameGAN writes one erase/add pair from h_t; a windowed memory writes the frame's patch.
        self.erase_add = nn.Linear(hidden_dim, 2 * dim) if not window else None
        self.register_buffer("inside", _inside(size), persistent=False)

    def resize(self, size: int) -> None:
        """Make the grid N x N (empty memories made afterwards have the new size). No parameter
        depends on N: play grows it so that a long walk never reaches the border, where
        attention stops moving although the world goes on."""
        if size < max(self.window, 1):
            raise ValueError(f"memory size {size} is smaller than its window {self.window}")
        self.size = size
        self.inside = _inside(size).to(self.inside)

    # -- state -------------------------------------------------------------------------------

    def initial(self, batch: int, *, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """Empty memory, attention one-hot at the centre cell (N // 2, N // 2), zero read
        ((B, D), or (B, D, W, W) for a windowed memory).

        For odd N that is the exact centre, with (N - 1) / 2 cells of room in every
        direction; for even N it is the lower-right of the four central cells.
        """
        n = self.size
        memory = torch.zeros(batch, n * n, self.dim, device=device, dtype=dtype)
        alpha = torch.zeros(batch, n * n, device=device, dtype=dtype)
        alpha[:, (n // 2) * n + n // 2] = 1.0
        shape = (batch, self.dim, self.window, self.window) if self.window else (batch, self.dim)
        read = torch.zeros(shape, device=device, dtype=dtype)
        return memory, alpha.view(batch, n, n), read

    # -- the step ----------------------------------------------------------------------------

    def forward(
        self, memory: Tensor, alpha: Tensor, h: Tensor, h_prev: Tensor, action: Tensor, *, hard: bool = False,
        patch: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """memory (B, N*N, D), alpha (B, N, N), h/h_prev (B, H), action (B,) long
        -> memory, alpha, read (B, D), gate (B,).

        A windowed memory takes `patch` (B, 2D, W, W), the input frame's erase/add logits, and
        returns the window read (B, D, W, W) instead.

        `hard` (play time): one-hot kernel, binary gate, one-hot attention, so the position
        stays sharp over thousands of steps instead of blurring a little every step.
        """
        if self.window:
            if patch is None:
                raise ValueError("a windowed memory writes the input frame: pass its `patch`")
            erase, add = patch.chunk(2, dim=1)  # (B, D, W, W) each
            write = self.write_window_at if hard else self.write_window  # hard: alpha is one-hot
            memory = write(memory, alpha, torch.sigmoid(erase), torch.tanh(add))
        kernel = self.kernels(action, hard=hard)  # (B, 3, 3)
        gate = torch.sigmoid(self.gate_mlp(self._gate_input(memory, alpha, kernel, h, h_prev))).squeeze(-1)  # (B,)
        if hard:
            gate = (gate > 0.5).to(h.dtype)
        alpha = self.move(alpha, kernel, gate)
        if hard:
            alpha = _one_hot_argmax(alpha.flatten(1)).view_as(alpha)
        if self.window:
            read = self.read_window_at if hard else self.read_window
            return memory, alpha, read(memory, alpha, self.window), gate
        erase, add = self.erase_add(h).chunk(2, dim=-1)  # (B, D) each
        memory = self.write(memory, alpha, torch.sigmoid(erase), torch.tanh(add))
        return memory, alpha, self.read(memory, alpha), gate

    def _gate_input(self, memory: Tensor, alpha: Tensor, kernel: Tensor, h: Tensor, h_prev: Tensor) -> Tensor:
        """The gate MLP's input: (B, H) for the engine gate, (B, 2D) for the map gate (the
        memory already holds the input frame there, written before the move)."""
        if self.gate == "engine":
            return h - h_prev
        return torch.cat([self.read(memory, alpha), self.read(memory, self.shift(alpha, kernel))], dim=-1)

    def kernels(self, action: Tensor, *, hard: bool = False) -> Tensor:
        """(B,) action ids -> (B, 3, 3) shift kernels (softmax over the 9 offsets, or one-hot)."""
        eye = torch.eye(self.n_free_kernels, device=self.inside.device, dtype=self.inside.dtype)
        free = self.kernel_mlp(eye).view(-1, 3, 3)  # (n_free, 3, 3) logits, one per owned kernel
        variants = torch.stack([free, free.flip(-2), free.flip(-1)])  # (3, n_free, 3, 3)
        logits = variants[self.kernel_flip[action], self.kernel_slot[action]]  # (B, 3, 3)
        flat = logits.flatten(1)  # (B, 9)
        w = _one_hot_argmax(flat) if hard else torch.softmax(flat / self.tau, dim=-1)
        w = torch.where(self.kernel_still[action, None], self.stay_kernel.to(w.dtype), w)
        return w.view(-1, 3, 3)

    def upgrade_tensors(self, tensors: dict[str, Tensor], prefix: str) -> bool:
        """Bring this module's tensors from a checkpoint written before NOOP's kernel became the
        identity (it had a learned kernel of its own, one more input of the kernel MLP) to today's
        layout, in place; True if anything changed. The kept kernels are exactly the old ones."""
        key = prefix + "kernel_mlp.0.weight"
        weight = tensors.get(key)
        if weight is None or weight.shape[1] == self.n_free_kernels or weight.shape[1] != len(self._owners_before_still):
            return False
        columns = [self._owners_before_still.index(a) for a in self._owners]
        tensors[key] = weight[:, columns]
        return True

    def move(self, alpha: Tensor, kernel: Tensor, gate: Tensor) -> Tensor:
        """alpha_t = g * shift(alpha, w) + (1 - g) * alpha, per sample. (B,N,N),(B,3,3),(B,) -> (B,N,N)."""
        g = gate[:, None, None]
        return g * self.shift(alpha, kernel) + (1 - g) * alpha

    def shift(self, alpha: Tensor, kernel: Tensor) -> Tensor:
        """Move attention mass by the per-sample kernel, clamping at the borders.

        Border policy: mass that a kernel would push off the grid stays where it is (like
        the agent bumping into a wall) instead of vanishing. This conserves total mass exactly,
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

    @staticmethod
    def read_window(memory: Tensor, alpha: Tensor, window: int) -> Tensor:
        """The W x W cells around alpha: (B, N*N, D), (B, ..., N, N) -> (B, ..., D, W, W).

        window[o] = sum_q alpha[q] M[q + o - c] (c = W // 2): M correlated with alpha, i.e.
        convolved with alpha flipped. FFT size N + c keeps the wrapped-around part of the
        circular convolution out of the rows and columns read.
        """
        n, c = alpha.shape[-1], window // 2
        b, lead = memory.shape[0], alpha.shape[1:-2]
        grid = memory.transpose(1, 2).reshape(b, *(1,) * len(lead), -1, n, n)  # (B, [1...], D, N, N)
        size = (n + c, n + c)
        product = torch.fft.rfft2(grid.float(), s=size) * torch.fft.rfft2(alpha.flip(-1, -2).float(), s=size)[..., None, :, :]
        full = torch.fft.irfft2(product, s=size)  # (B, ..., D, N + c, N + c): full[i] = window[i - (N - 1) + c]
        return full[..., n - 1 - c:n + c, n - 1 - c:n + c].to(memory.dtype)

    @staticmethod
    def read_window_at(memory: Tensor, alpha: Tensor, window: int) -> Tensor:
        """`read_window` for a one-hot alpha (B, N, N) (hard attention, play): a slice of the
        grid instead of two FFTs, which at play's 129 x 129 grid cost tens of ms a step."""
        grid, cells, _ = _padded_grid(memory, alpha, window)
        return torch.stack([grid[i, :, y:y + window, x:x + window] for i, (y, x) in enumerate(cells)])

    @staticmethod
    def write_window_at(memory: Tensor, alpha: Tensor, erase: Tensor, add: Tensor) -> Tensor:
        """`write_window` for a one-hot alpha: the patch written into its slice of the grid."""
        w = erase.shape[-1]
        grid, cells, c = _padded_grid(memory, alpha, w)
        grid = grid.clone()
        for i, (y, x) in enumerate(cells):
            region = grid[i, :, y:y + w, x:x + w]
            grid[i, :, y:y + w, x:x + w] = region * (1 - erase[i]) + add[i]
        n = alpha.shape[-1]
        return grid[:, :, c:c + n, c:c + n].flatten(-2).transpose(1, 2)

    @staticmethod
    def write_window(memory: Tensor, alpha: Tensor, erase: Tensor, add: Tensor) -> Tensor:
        """M * (1 - alpha (*) E) + alpha (*) A: a W x W patch written around alpha.
        memory (B, N*N, D), alpha (B, N, N), erase/add (B, D, W, W); cells off the grid are dropped."""
        b, n = alpha.shape[:2]
        w = erase.shape[-1]
        c, size = w // 2, (n + w - 1, n + w - 1)
        spread = torch.fft.rfft2(alpha.float(), s=size)[:, None]  # (B, 1, ., .)

        def placed(patch: Tensor) -> Tensor:  # (B, D, W, W) -> (B, N*N, D): sum_q alpha[q] patch[p - q + c]
            full = torch.fft.irfft2(spread * torch.fft.rfft2(patch.float(), s=size), s=size)
            return full[..., c:c + n, c:c + n].flatten(-2).transpose(1, 2).to(memory.dtype)

        return memory * (1 - placed(erase)) + placed(add)


class WindowWriter(nn.Module):
    """x_t (B, 3, S, S) -> (B, 2D, W, W): the erase/add logits a windowed memory writes at the
    W x W cells the frame shows.

    The view is taken to be W cells of S // W px, centred (64 px over 15 cells: 60 px and a
    2 px border): that crop, stride-2 convs while the map halves evenly and stays at least W
    wide (60 -> 30 -> 15), an average pool to exactly W x W when it is not there yet, then a
    3x3 and a 1x1 conv.
    """

    def __init__(self, *, frame_size: int, channels: int, dim: int, window: int):
        super().__init__()
        self.window, cell = window, frame_size // window
        if cell < 1:
            raise ValueError(f"a {window}-cell memory window does not fit {frame_size} px frames")
        self.crop = ((frame_size - window * cell) // 2, window * cell)
        convs, c_in, size = [], 3, window * cell
        while size % 2 == 0 and size // 2 >= window:
            convs.append(conv3x3(c_in, channels * min(2 ** len(convs), 4), stride=2))
            c_in, size = convs[-1].out_channels, size // 2
        self.convs = nn.ModuleList(convs)
        self.mix = conv3x3(c_in, c_in)
        self.out = nn.Conv2d(c_in, 2 * dim, 1)

    def forward(self, frame: Tensor) -> Tensor:
        start, size = self.crop
        x = frame[..., start:start + size, start:start + size]
        for conv in self.convs:
            x = act(conv(x))
        if x.shape[-1] != self.window:
            x = F.adaptive_avg_pool2d(x, self.window)
        return self.out(act(self.mix(x)))


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


def _padded_grid(memory: Tensor, alpha: Tensor, window: int) -> tuple[Tensor, list[tuple[int, int]], int]:
    """The memory as a grid (B, D, N + 2c, N + 2c) padded with c = W // 2 empty cells, and the
    cell each one-hot alpha (B, N, N) attends, so the window around cell (y, x) is the slice
    [y : y + W, x : x + W] of the padded grid."""
    b, n = alpha.shape[:2]
    c = window // 2
    grid = F.pad(memory.transpose(1, 2).reshape(b, -1, n, n), (c, c, c, c))
    flat = alpha.flatten(1).argmax(1).tolist()
    return grid, [divmod(k, n) for k in flat], c


def _inside(size: int) -> Tensor:
    """(9, N*N): for each 3x3 kernel offset, which cells have its target inside the grid (the 3x3
    patches of a zero-padded all-ones grid)."""
    return F.unfold(F.pad(torch.ones(1, 1, size, size), (1, 1, 1, 1)), 3)[0]


def _one_hot_argmax(x: Tensor) -> Tensor:
    """(B, K) -> (B, K) one-hot of the row maximum."""
    return F.one_hot(x.argmax(-1), x.shape[-1]).to(x.dtype)
