"""The GameGAN generator: module shapes, memory mechanics, rollout semantics, gradient routing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gamegan.config import ModelConfig, preset
from gamegan.model.encoder import Encoder
from gamegan.model.generator import Generator
from gamegan.model.layers import upsample
from gamegan.model.memory import Memory, kernel_sharing
from gamegan.model.types import SimState

NAMES = ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"]


def small_config(**overrides) -> ModelConfig:
    """A narrow model that still has every part (memory, K=2 disentangling renderer)."""
    base = ModelConfig(
        frame_size=32, n_actions=5, action_names=list(NAMES), z_dim=4, hidden_dim=32, embed_dim=16,
        encoder_channels=8, memory=True, memory_size=7, memory_dim=16, renderer="disentangling",
        n_components=2, renderer_channels=8, dynamic_code_dim=16, attribute_channels=4,
    )
    return dataclasses.replace(base, **overrides)


def make(seed: int = 0, **overrides) -> Generator:
    torch.manual_seed(seed)
    return Generator(small_config(**overrides))


def data(config: ModelConfig, b: int = 2, t: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames (B, T, 3, S, S), actions (B, T-1) covering every action id, noise (B, T-1, Z)."""
    g = torch.Generator().manual_seed(seed)
    s = config.frame_size
    frames = torch.rand(b, t, 3, s, s, generator=g) * 2 - 1
    actions = (torch.arange(b * (t - 1)).view(b, t - 1) % config.n_actions).long()
    z = torch.randn(b, t - 1, config.z_dim, generator=g)
    return frames, actions, z


VARIANTS = {
    "simple": dict(renderer="simple", n_components=1, memory=False),
    "simple+memory": dict(renderer="simple", n_components=1, memory=True),
    "k2": dict(renderer="disentangling", n_components=2, memory=False),
    "k2+memory": dict(renderer="disentangling", n_components=2, memory=True),
    "k3+memory": dict(renderer="disentangling", n_components=3, memory=True),
    "simple+copy": dict(renderer="simple", n_components=1, memory=False, renderer_input=True),
    "k2+memory+copy": dict(renderer="disentangling", n_components=2, memory=True, renderer_input=True),
    "k2+window": dict(renderer="disentangling", n_components=2, memory=True, memory_read="window", memory_window=5),
    "k2+window+map-gate": dict(renderer="disentangling", n_components=2, memory=True, memory_read="window",
                               memory_window=5, memory_gate="map"),
    "k3+window+copy": dict(renderer="disentangling", n_components=3, memory=True, memory_read="window",
                           memory_window=3, renderer_input=True),
}


# -- shapes ----------------------------------------------------------------------------------


def test_copy_path_keeps_the_input_frame_where_its_mask_wins() -> None:
    model = make(**VARIANTS["k2+memory+copy"])
    frames, actions, z = data(model.config)
    with torch.no_grad():
        model.renderer.mask_mix.bias[-1] = 1e3  # the copy logit wins every pixel
    out = model.rollout(frames, actions, warmup=frames.shape[1] - 1, z=z)  # every input real
    assert torch.allclose(out.frames, frames[:, :-1], atol=1e-5)
    assert float(out.masks.detach().sum()) < 1e-3  # the components' masks gave way to the copy
    with torch.no_grad():
        model.renderer.mask_mix.bias[-1] = -1e3  # and never
    out = model.rollout(frames, actions, warmup=frames.shape[1] - 1, z=z)
    assert torch.allclose(out.masks.sum(2), torch.ones(1))
    assert torch.allclose(out.frames, (out.masks * out.components).sum(2), atol=1e-5)


def test_dynamic_components_see_the_input_frame_and_the_static_one_does_not() -> None:
    model = make(**VARIANTS["k2+memory+copy"])
    h, read = torch.randn(2, 32), torch.randn(2, 16)
    a = model.renderer(h, read, previous=torch.rand(2, 3, 32, 32) * 2 - 1)
    b = model.renderer(h, read, previous=torch.rand(2, 3, 32, 32) * 2 - 1)
    assert torch.equal(a.components[:, 0], b.components[:, 0])
    assert not torch.allclose(a.components[:, 1], b.components[:, 1])


@pytest.mark.parametrize("variant", ["simple+copy", "k2+memory+copy"])
def test_copy_renderers_draw_on_their_own_without_an_input_frame(variant: str) -> None:
    model = make(**VARIANTS[variant])
    h, read = torch.randn(3, 32), torch.randn(3, 16) if model.memory is not None else None
    drawn = model.renderer(h, read)  # no `previous`: play's view of a state after warm-up
    assert drawn.copy is None and drawn.frame.shape == (3, 3, 32, 32)
    assert torch.allclose(drawn.masks.sum(1), torch.ones(1), atol=1e-5)
    with_input = model.renderer(h, read, previous=torch.zeros(3, 3, 32, 32))
    assert torch.allclose(with_input.masks.sum(1) + with_input.copy, torch.ones(1), atol=1e-5)


@pytest.mark.parametrize("variant, size", [
    (variant, size) for variant in VARIANTS for size in (32, 64)
    if not (variant in ("k3+memory", "simple+copy", "k2+memory+copy") and size == 64)
])
def test_rollout_and_step_shapes(variant: str, size: int) -> None:
    model = make(frame_size=size, **VARIANTS[variant])
    cfg = model.config
    k, n_mem = cfg.n_components, cfg.memory_size
    frames, actions, z = data(cfg, b=2, t=5)
    ro = model.rollout(frames, actions, warmup=2, z=z)
    assert ro.frames.shape == (2, 4, 3, size, size)
    assert ro.components.shape == (2, 4, k, 3, size, size)
    assert ro.masks.shape == (2, 4, k, 1, size, size)
    assert ro.frames.min() >= -1 and ro.frames.max() <= 1
    # The frame is the mask-weighted sum of the components (and, copying, of each step's input:
    # real frames 0 and 1 under warm-up 2, then the predictions).
    drawn = (ro.masks * ro.components).sum(2)
    if cfg.renderer_input:
        torch.testing.assert_close(ro.masks.sum(dim=2) + ro.copy, torch.ones(2, 4, 1, size, size))
        inputs = torch.cat([frames[:, :2], ro.frames[:, 1:3]], dim=1)
        torch.testing.assert_close(ro.frames, drawn + ro.copy * inputs)
    else:
        assert ro.copy is None
        torch.testing.assert_close(ro.masks.sum(dim=2), torch.ones(2, 4, 1, size, size))
        torch.testing.assert_close(ro.frames, drawn)
    assert ro.hidden.shape == (2, 4, cfg.hidden_dim)
    assert torch.equal(ro.z, z)
    assert torch.equal(ro.final_state.frame, ro.frames[:, -1])
    if cfg.memory:
        assert ro.alphas.shape == (2, 4, n_mem, n_mem)
        torch.testing.assert_close(ro.alphas.sum((-1, -2)), torch.ones(2, 4))
        assert ro.final_state.memory.shape == (2, n_mem * n_mem, cfg.memory_dim)
        window = (cfg.memory_window,) * 2 if cfg.memory_read == "window" else ()
        assert ro.extra["reads"].shape == (2, 4, cfg.memory_dim, *window)
    else:
        assert ro.alphas is None and ro.final_state.memory is None

    frame, state, extras = model.step(ro.final_state, actions[:, 0])
    assert frame.shape == (2, 3, size, size) and state.h.shape == (2, cfg.hidden_dim)
    assert extras["components"].shape == (2, k, 3, size, size)
    assert extras["masks"].shape == (2, k, 1, size, size)
    assert extras["z"].shape == (2, cfg.z_dim)
    assert ("alpha" in extras) == cfg.memory


@pytest.mark.parametrize("size", [32, 64, 84, 128])
def test_encoder_any_frame_size(size: int) -> None:
    enc = Encoder(frame_size=size, channels=4, out_dim=10)
    assert enc(torch.zeros(3, 3, size, size)).shape == (3, 10)
    with pytest.raises(ValueError, match="expects"):
        enc(torch.zeros(1, 3, size + 2, size + 2))


def test_84_pixel_frames_render_at_full_size() -> None:
    model = make(frame_size=84)
    frames, actions, z = data(model.config, b=1, t=3)
    assert model.rollout(frames, actions, warmup=1, z=z).frames.shape == (1, 2, 3, 84, 84)


@pytest.mark.parametrize("size", [8, 12, 16, 7])
def test_upsample_matches_interpolate_in_value_and_gradient(size: int) -> None:
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    want = torch.nn.functional.interpolate(x, size=(size, size), mode="nearest")
    assert torch.equal(upsample(x, size), want)
    assert torch.autograd.gradcheck(lambda t: upsample(t, size), (x,))


def test_parameter_groups_partition_the_model() -> None:
    model = make()
    groups = model.parameter_groups
    assert set(groups) == {"encoder", "engine", "memory", "renderer"}
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    assert all(groups[name] for name in groups)
    assert make(memory=False).parameter_groups["memory"] == []


@pytest.mark.parametrize("bad, match", [
    (dict(renderer="simple", n_components=2), "one component"),
    (dict(renderer="disentangling", n_components=1), "n_components >= 2"),
    (dict(renderer="fancy"), "unknown renderer"),
    (dict(action_names=["NOOP", "UP"]), "action names"),
    (dict(frame_size=16), "too small"),
])
def test_bad_configs_are_rejected(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Generator(small_config(**bad))


# -- memory ----------------------------------------------------------------------------------


def one_hot_grid(n: int, row: int, col: int, b: int = 1) -> torch.Tensor:
    alpha = torch.zeros(b, n, n)
    alpha[:, row, col] = 1.0
    return alpha


def memory_module(names=NAMES, tie=False, size=7) -> Memory:
    torch.manual_seed(0)
    return Memory(size=size, dim=6, hidden_dim=8, embed_dim=8, action_names=list(names), tau=0.1,
                  tie_opposite_kernels=tie)


def offset_kernel(dy: int, dx: int) -> torch.Tensor:
    kernel = torch.zeros(1, 3, 3)
    kernel[0, 1 + dy, 1 + dx] = 1.0
    return kernel


@pytest.mark.parametrize("dy, dx", [(0, 1), (0, -1), (-1, 0), (1, 0), (0, 0)])
def test_one_hot_kernel_moves_attention_exactly_one_cell(dy: int, dx: int) -> None:
    mem = memory_module()
    moved = mem.move(one_hot_grid(7, 3, 3), offset_kernel(dy, dx), gate=torch.ones(1))
    assert torch.equal(moved, one_hot_grid(7, 3 + dy, 3 + dx))


def test_closed_gate_holds_attention() -> None:
    mem = memory_module()
    alpha = torch.softmax(torch.randn(1, 49), -1).view(1, 7, 7)
    assert torch.equal(mem.move(alpha, offset_kernel(0, 1), gate=torch.zeros(1)), alpha)


def test_border_clamps_and_conserves_mass() -> None:
    mem = memory_module()
    at_edge = one_hot_grid(7, 2, 6)
    assert torch.equal(mem.move(at_edge, offset_kernel(0, 1), torch.ones(1)), at_edge)
    corner = one_hot_grid(7, 0, 0)
    soft = torch.softmax(torch.randn(1, 9), -1).view(1, 3, 3)
    out = mem.move(corner, soft, torch.ones(1))
    torch.testing.assert_close(out.sum(), torch.tensor(1.0))
    assert (out >= 0).all() and out[0, 2:, :].sum() == 0 and out[0, :, 2:].sum() == 0


def steer(mem: Memory, gate_bias: float) -> None:
    """Make each action's learned kernel point where its name says, and fix the gate."""
    targets = {"NOOP": (0, 0), "UP": (-1, 0), "DOWN": (1, 0), "LEFT": (0, -1), "RIGHT": (0, 1)}
    first, last = mem.kernel_mlp[0], mem.kernel_mlp[2]
    with torch.no_grad():
        first.weight.zero_(), first.bias.zero_(), last.weight.zero_(), last.bias.zero_()
        for a, name in enumerate(NAMES):
            if mem.kernel_still[a]:
                continue  # NOOP's kernel is fixed
            first.weight[a, mem.kernel_slot[a]] = 1.0  # hidden unit a fires for action a only
            dy, dx = targets[name]
            last.weight[(1 + dy) * 3 + 1 + dx, a] = 10.0
        mem.gate_mlp[2].weight.zero_()
        mem.gate_mlp[2].bias.fill_(gate_bias)


def test_memory_step_moves_right_with_hard_kernel_and_holds_with_closed_gate() -> None:
    mem = memory_module()
    b, n = 1, 7
    memory, alpha, _ = mem.initial(b, device=torch.device("cpu"), dtype=torch.float32)
    assert torch.equal(alpha, one_hot_grid(n, 3, 3))  # starts at the centre
    right = torch.tensor([NAMES.index("RIGHT")])
    h, h_prev = torch.randn(b, 8), torch.randn(b, 8)
    steer(mem, gate_bias=50.0)
    _, moved, _, gate = mem(memory, alpha, h, h_prev, right, hard=True)
    assert torch.equal(moved, one_hot_grid(n, 3, 4)) and gate.item() == 1.0
    steer(mem, gate_bias=-50.0)
    _, held, _, gate = mem(memory, alpha, h, h_prev, right, hard=True)
    assert torch.equal(held, alpha) and gate.item() == 0.0


@pytest.mark.parametrize("hard", [True, False])
def test_the_map_gate_opens_where_the_map_is_open_whatever_the_engine_state(hard: bool) -> None:
    torch.manual_seed(0)
    d, w = 2, 3
    mem = Memory(size=7, dim=d, hidden_dim=8, embed_dim=8, action_names=list(NAMES), tau=0.01,
                 tie_opposite_kernels=False, window=w, gate="map")
    steer(mem, gate_bias=-5.0)  # kernels point where their names say
    with torch.no_grad():  # open iff feature 0 of the cell the kernel points to is positive
        first = mem.gate_mlp[0]
        first.weight.zero_(), first.bias.zero_()
        first.weight[0, d] = 1.0
        mem.gate_mlp[2].weight[0, 0] = 20.0
    memory, alpha, _ = mem.initial(1, device=torch.device("cpu"), dtype=torch.float32)
    patch = torch.full((1, 2 * d, w, w), -20.0)  # erase nothing, add -1 (a wall) everywhere ...
    patch[0, d, 1, 2] = 20.0  # ... except feature 0 of the cell to the right: open
    for _ in range(2):  # the engine state plays no part
        h, h_prev = torch.randn(1, 8), torch.randn(1, 8)
        _, right, _, open_ = mem(memory, alpha, h, h_prev, torch.tensor([NAMES.index("RIGHT")]), hard=hard, patch=patch)
        _, left, _, shut = mem(memory, alpha, h, h_prev, torch.tensor([NAMES.index("LEFT")]), hard=hard, patch=patch)
        assert open_.item() > 0.99 and shut.item() < 0.01
        assert right.argmax() == 3 * 7 + 4 and torch.allclose(left, alpha, atol=1e-2)


def test_the_map_gate_needs_a_windowed_memory() -> None:
    with pytest.raises(ValueError, match="windowed memory"):
        Memory(size=7, dim=2, hidden_dim=8, embed_dim=8, action_names=list(NAMES), tau=0.1,
               tie_opposite_kernels=False, gate="map")
    with pytest.raises(ValueError, match="unknown memory gate"):
        Memory(size=7, dim=2, hidden_dim=8, embed_dim=8, action_names=list(NAMES), tau=0.1,
               tie_opposite_kernels=False, window=3, gate="hope")


def test_hard_kernels_are_one_hot() -> None:
    mem = memory_module()
    w = mem.kernels(torch.arange(5), hard=True)
    assert torch.equal(w.flatten(1).sum(-1), torch.ones(5)) and set(w.unique().tolist()) == {0.0, 1.0}
    soft = mem.kernels(torch.arange(5))
    assert torch.equal(w.flatten(1).argmax(-1), soft.flatten(1).argmax(-1))


def test_write_then_read_returns_the_written_vector() -> None:
    torch.manual_seed(0)
    memory = torch.randn(2, 49, 6)
    alpha = one_hot_grid(7, 1, 5, b=2)
    vec = torch.randn(2, 6)
    written = Memory.write(memory, alpha, erase=torch.ones(2, 6), add=vec)
    torch.testing.assert_close(Memory.read(written, alpha), vec)
    cell = 1 * 7 + 5
    others = [i for i in range(49) if i != cell]
    assert torch.equal(written[:, others], memory[:, others])  # nothing else was touched


def _brute_window(memory: torch.Tensor, alpha: torch.Tensor, w: int) -> torch.Tensor:
    """window[o] = sum_q alpha[q] M[q + o - c], cells off the grid read as zero, by loops."""
    b, n = alpha.shape[:2]
    grid, c = memory.view(b, n, n, -1), w // 2
    out = torch.zeros(b, memory.shape[-1], w, w, dtype=torch.float64)
    for qy in range(n):
        for qx in range(n):
            for oy in range(w):
                for ox in range(w):
                    y, x = qy + oy - c, qx + ox - c
                    if 0 <= y < n and 0 <= x < n:
                        out[:, :, oy, ox] += alpha[:, qy, qx, None].double() * grid[:, y, x].double()
    return out


def test_window_read_and_write_are_the_convolutions_they_claim_to_be() -> None:
    torch.manual_seed(0)
    b, n, d, w = 2, 6, 3, 5
    memory = torch.randn(b, n * n, d)
    alpha = torch.softmax(torch.randn(b, n * n), -1).view(b, n, n)
    torch.testing.assert_close(Memory.read_window(memory, alpha, w).double(), _brute_window(memory, alpha, w),
                               atol=1e-5, rtol=1e-5)
    # many attentions at once (the cycle loss re-reads at every past alpha)
    alphas = torch.stack([alpha, alpha.flip(-1)], 1)  # (B, 2, N, N)
    both = Memory.read_window(memory, alphas, w)
    assert both.shape == (b, 2, d, w, w)
    torch.testing.assert_close(both[:, 1], Memory.read_window(memory, alpha.flip(-1), w))
    # write: cell p gets sum_q alpha[q] patch[p - q + c]
    erase, add = torch.rand(b, d, w, w), torch.randn(b, d, w, w)
    written = Memory.write_window(memory, alpha, erase, add).view(b, n, n, d)
    grid, c = memory.view(b, n, n, d), w // 2
    for py, px in [(0, 0), (2, 3), (5, 5)]:
        e = sum(alpha[:, qy, qx, None] * erase[:, :, py - qy + c, px - qx + c] for qy in range(n) for qx in range(n)
                if 0 <= py - qy + c < w and 0 <= px - qx + c < w)
        a = sum(alpha[:, qy, qx, None] * add[:, :, py - qy + c, px - qx + c] for qy in range(n) for qx in range(n)
                if 0 <= py - qy + c < w and 0 <= px - qx + c < w)
        torch.testing.assert_close(written[:, py, px], grid[:, py, px] * (1 - e) + a, atol=1e-5, rtol=1e-5)


def test_a_window_written_walked_away_from_and_returned_to_reads_back_exactly() -> None:
    torch.manual_seed(0)
    n, d, w = 9, 4, 5
    mem = Memory(size=n, dim=d, hidden_dim=8, embed_dim=8, action_names=list(NAMES), tau=0.1,
                 tie_opposite_kernels=False, window=w)
    memory, alpha, read = mem.initial(1, device=torch.device("cpu"), dtype=torch.float32)
    assert read.shape == (1, d, w, w)
    patch = torch.randn(1, d, w, w)
    home = Memory.read_window(Memory.write_window(memory, alpha, torch.ones_like(patch), patch), alpha, w)
    torch.testing.assert_close(home, patch, atol=1e-5, rtol=1e-5)
    # one cell to the right: the view shifts by one column, and the new column is empty
    memory = Memory.write_window(memory, alpha, torch.ones_like(patch), patch)
    right = mem.shift(alpha, torch.tensor([[[0.0, 0, 0], [0, 0, 1], [0, 0, 0]]]))
    away = Memory.read_window(memory, right, w)
    torch.testing.assert_close(away[..., :-1], patch[..., 1:], atol=1e-5, rtol=1e-5)
    assert away[..., -1].abs().max() < 1e-5
    back = mem.shift(right, torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 0, 0]]]))
    torch.testing.assert_close(Memory.read_window(memory, back, w), patch, atol=1e-5, rtol=1e-5)


def test_window_cells_land_on_the_pixels_the_view_shows_them_at() -> None:
    from gamegan.model.memory import WindowWriter
    from gamegan.model.renderer import window_grid

    s, w = 64, 15  # 4 px per cell, a 2 px border
    x = window_grid(w, s, s)[0, 0, :, 0]  # normalised x of each pixel column
    for k in range(w):
        columns = x[2 + 4 * k:2 + 4 * k + 4]
        assert ((columns > -1 + 2 * k / w) & (columns < -1 + 2 * (k + 1) / w)).all()
    assert (x[:2] < -1).all() and (x[62:] > 1).all()  # the border is outside the window
    writer = WindowWriter(frame_size=s, channels=4, dim=3, window=w)
    frame = torch.rand(1, 3, s, s)
    border = frame.clone()
    border[..., :2, :] = border[..., :, 62:] = -1.0
    out = writer(frame)
    assert out.shape == (1, 6, w, w) and len(writer.convs) == 2  # 60 -> 30 -> 15
    torch.testing.assert_close(writer(border), out)  # the writer sees the cells, not the border


def test_a_windowed_generator_reads_the_window_the_play_swap_reads() -> None:
    model = make(**VARIANTS["k2+window"])
    frames, actions, z = data(model.config, t=4)
    state = model.warmup(frames, actions, z=z[:, :3])
    assert state.read.shape == (2, model.config.memory_dim, 5, 5)
    torch.testing.assert_close(model.read_memory(state.memory, state.alpha), state.read)
    # the engine's read is the window's centre: alpha^T M
    torch.testing.assert_close(state.read[..., 2, 2], Memory.read(state.memory, state.alpha), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("names", [
    NAMES,
    ["RIGHT", "NOOP", "down", "LEFT", "up", "FIRE"],  # another order, other case, an extra action
])
def test_tied_kernels_are_flips_found_by_name(names: list[str]) -> None:
    mem = memory_module(names, tie=True)
    idx = {name.upper(): i for i, name in enumerate(names)}
    w = mem.kernels(torch.arange(len(names)))
    torch.testing.assert_close(w[idx["DOWN"]], w[idx["UP"]].flip(0))
    torch.testing.assert_close(w[idx["RIGHT"]], w[idx["LEFT"]].flip(1))
    assert mem.n_free_kernels == len(names) - 3  # the copies and NOOP own no weights
    assert not torch.allclose(w[idx["NOOP"]], w[idx["UP"]])


@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("gate", ["engine", "map"])
def test_noop_keeps_the_attention_where_it_is_even_with_the_gate_open(hard: bool, gate: str) -> None:
    names = ["RIGHT", "noop", "UP", "LEFT", "DOWN"]  # found by name, in any place and case
    torch.manual_seed(0)
    d, w = 2, 3
    mem = Memory(size=7, dim=d, hidden_dim=8, embed_dim=8, action_names=names, tau=1.0,
                 tie_opposite_kernels=True, window=w, gate=gate)
    with torch.no_grad():
        mem.gate_mlp[2].bias.fill_(50.0)  # the gate always says move
        mem.kernel_mlp[2].bias[1] = 50.0  # and every learned kernel says up
    torch.testing.assert_close(mem.kernels(torch.tensor([1]), hard=hard)[0],
                               torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]))
    memory, alpha, _ = mem.initial(1, device=torch.device("cpu"), dtype=torch.float32)
    patch = torch.randn(1, 2 * d, w, w)
    h, h_prev = torch.randn(1, 8), torch.randn(1, 8)
    _, kept, _, gate_value = mem(memory, alpha, h, h_prev, torch.tensor([1]), hard=hard, patch=patch)
    assert gate_value.item() > 0.99 and torch.equal(kept, alpha)
    _, moved, _, _ = mem(memory, alpha, h, h_prev, torch.tensor([2]), hard=hard, patch=patch)
    assert not torch.allclose(moved, alpha)  # a moving action does move it


def test_an_action_list_of_only_noop_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing moves"):
        Memory(size=7, dim=2, hidden_dim=8, embed_dim=8, action_names=["NOOP"], tau=1.0, tie_opposite_kernels=True)


def test_untied_kernels_are_independent_and_unnamed_actions_stay_untied() -> None:
    mem = memory_module(tie=False)
    w = mem.kernels(torch.arange(5))
    assert not torch.allclose(w[2], w[1].flip(0), atol=1e-3)
    assert kernel_sharing(["A", "B", "UP"], tie=True) == ([0, 1, 2], [0, 0, 0])  # UP has no DOWN


# -- rollout semantics -------------------------------------------------------------------------


def test_full_warmup_feeds_every_real_frame() -> None:
    model = make()
    frames, actions, z = data(model.config, t=6)
    base = model.rollout(frames, actions, warmup=5, z=z).frames
    for t in range(5):
        changed = frames.clone()
        changed[:, t] = -changed[:, t]
        out = model.rollout(changed, actions, warmup=5, z=z).frames
        assert not torch.allclose(out[:, t], base[:, t])  # prediction t sees real frame t
        assert torch.equal(out[:, :t], base[:, :t])  # and nothing earlier does


def test_warmup_one_ignores_later_real_frames() -> None:
    model = make()
    frames, actions, z = data(model.config, t=6)
    base = model.rollout(frames, actions, warmup=1, z=z).frames
    for t in (1, 2, 5):
        changed = frames.clone()
        changed[:, t] = torch.rand_like(changed[:, t])
        assert torch.equal(model.rollout(changed, actions, warmup=1, z=z).frames, base)
    assert torch.equal(model.rollout(frames, actions, warmup=0, z=z).frames, base)  # clamped to 1
    assert torch.equal(model.rollout(frames, actions, warmup=99, z=z).frames,
                       model.rollout(frames, actions, warmup=5, z=z).frames)
    # The rollout says how many real frames it took, so the losses weigh its horizon right.
    assert [model.rollout(frames, actions, warmup=w, z=z).warmup for w in (0, 3, 99)] == [1, 3, 5]


def test_feedback_frames_are_detached() -> None:
    model = make()
    frames, actions, z = data(model.config, t=6)
    seen: list[bool] = []
    hook = model.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].requires_grad))
    ro = model.rollout(frames, actions, warmup=2, z=z)
    hook.remove()
    assert seen == [False] * 4  # one batched call on real frames, then 3 fed-back predictions
    # Behaviourally: a loss on a free-running prediction reaches the renderer only through
    # that step's own drawing, never through an earlier drawn frame fed back in.
    later = ro.frames[:, 4].square().sum()
    renderer = model.parameter_groups["renderer"]
    through_rollout = torch.autograd.grad(later, renderer, retain_graph=True)
    h, read = ro.hidden[:, 4].detach(), ro.extra["reads"][:, 4].detach()
    direct = torch.autograd.grad(model.renderer(h, read).frame.square().sum(), renderer)
    # Equal up to batched-vs-single conv rounding (~1e-6 relative); an undetached feedback
    # path adds ~1e-3 relative at init.
    for a, b in zip(through_rollout, direct):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)
    assert ro.hidden[:, 4].requires_grad  # h_t still trains the engine from the encoder side


@pytest.mark.parametrize("w", [1, 3])
def test_warmup_then_step_equals_rollout(w: int) -> None:
    model = make()
    frames, actions, z = data(model.config, t=7)
    ro = model.rollout(frames, actions, warmup=w, z=z)
    state = model.warmup(frames[:, :w], actions[:, :w - 1], z=z[:, :w - 1])
    assert torch.equal(state.frame, frames[:, w - 1])
    for t in range(w - 1, 6):
        frame, state, extras = model.step(state, actions[:, t], z=z[:, t])
        torch.testing.assert_close(frame, ro.frames[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(extras["masks"], ro.masks[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(extras["alpha"], ro.alphas[:, t], atol=1e-6, rtol=1e-6)


def test_step_samples_fresh_noise_when_none_given() -> None:
    model = make()
    frames, actions, _ = data(model.config, t=3)
    state = model.warmup(frames, actions)
    f1, _, e1 = model.step(state, actions[:, 0])
    f2, _, e2 = model.step(state, actions[:, 0])
    assert not torch.equal(e1["z"], e2["z"]) and not torch.equal(f1, f2)


def test_hard_memory_keeps_attention_one_hot_for_many_steps() -> None:
    model = make()
    model.hard_memory = True
    frames, actions, _ = data(model.config, b=3, t=3)
    with torch.inference_mode():
        state = model.warmup(frames, actions)
        for i in range(25):
            _, state, extras = model.step(state, torch.full((3,), i % 5))
    flat = state.alpha.flatten(1)
    assert torch.equal(flat.sum(-1), torch.ones(3)) and torch.equal(flat.max(-1).values, torch.ones(3))
    assert set(extras["gate"].tolist()) <= {0.0, 1.0}


# -- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS) + ["tied"])
def test_every_parameter_learns_from_reconstruction(variant: str) -> None:
    overrides = dict(VARIANTS["k2+memory"], tie_opposite_kernels=True) if variant == "tied" else VARIANTS[variant]
    model = make(**overrides)
    frames, actions, z = data(model.config, t=6)
    ro = model.rollout(frames, actions, warmup=2, z=z)
    (ro.frames - frames[:, 1:]).square().mean().backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("variant", ["k2+memory", "k2+window"])
def test_cycle_loss_trains_engine_memory_encoder_but_never_the_renderer(variant: str) -> None:
    model = make(**VARIANTS[variant])
    frames, actions, z = data(model.config, t=6)
    ro = model.rollout(frames, actions, warmup=2, z=z)
    cycle = model.cycle_loss(ro)
    assert cycle.ndim == 0 and cycle.item() > 0
    cycle.backward(retain_graph=True)
    groups = model.parameter_groups
    for p in groups["renderer"]:
        assert p.grad is None or torch.count_nonzero(p.grad) == 0
    for name in ("encoder", "engine", "memory"):
        assert sum(p.grad.abs().sum() for p in groups[name] if p.grad is not None) > 0, name

    # Same backward pass as the other losses: the renderer's grads are exactly the recon's.
    def grads(loss: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]

    recon = (ro.frames - frames[:, 1:]).square().mean()
    alone = grads(recon)
    together = grads(recon + 0.05 * model.cycle_loss(ro))
    by_id = {id(p): i for i, p in enumerate(model.parameters())}
    for p in groups["renderer"]:
        assert torch.equal(alone[by_id[id(p)]], together[by_id[id(p)]])
    assert any(not torch.equal(alone[by_id[id(p)]], together[by_id[id(p)]]) for p in groups["memory"])


@pytest.mark.parametrize("variant", ["simple", "k2", "simple+memory"])
def test_cycle_loss_is_a_backward_safe_zero_without_a_static_component(variant: str) -> None:
    model = make(**VARIANTS[variant])
    frames, actions, z = data(model.config, t=4)
    ro = model.rollout(frames, actions, warmup=1, z=z)
    cycle = model.cycle_loss(ro)
    assert cycle.item() == 0.0
    cycle.backward()  # alone ...
    (ro.frames.mean() + cycle).backward()  # ... or with other terms


@pytest.mark.parametrize("variant", ["k2+memory", "k2+window"])
def test_cycle_loss_is_zero_when_memory_reproduces_the_static_component(variant: str) -> None:
    # With a single step the final memory is the memory of that step: re-reading at alpha_0
    # gives m_0 exactly, so the re-drawn static component matches the target.
    model = make(**VARIANTS[variant])
    frames, actions, z = data(model.config, t=2)
    ro = model.rollout(frames, actions, warmup=1, z=z)
    assert model.cycle_loss(ro).item() < 1e-6


# -- learning --------------------------------------------------------------------------------


def test_tiny_preset_fits_a_batch() -> None:
    """Twenty Adam steps on pixel MSE must cut the loss of a free-running rollout of a moving
    square several-fold: encoder, engine and renderer train together."""
    torch.manual_seed(0)
    model = Generator(preset("tiny").model)
    b, t, s = 2, 4, model.config.frame_size
    frames = torch.full((b, t, 3, s, s), -0.8)
    for i in range(b):
        for j in range(t):
            r, c = 4 + 3 * j + 5 * i, 6 + 2 * j
            frames[i, j, :, r:r + 8, c:c + 8] = torch.tensor([0.8, 0.5, -0.2])[:, None, None]
    actions = torch.tensor([[4, 4, 2], [2, 4, 4]])
    z = torch.randn(b, t - 1, model.config.z_dim)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        ro = model.rollout(frames, actions, warmup=1, z=z)
        loss = (ro.frames - frames[:, 1:]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_presets_build_with_expected_shapes() -> None:
    for name in ("tiny", "small", "pacman-maze", "paper"):
        cfg = preset(name).model
        model = Generator(cfg)
        state = model.initial_state(torch.zeros(1, 3, cfg.frame_size, cfg.frame_size))
        assert isinstance(state, SimState)
        assert (state.memory is None) == (not cfg.memory)
        if cfg.memory:
            n = cfg.memory_size
            assert state.alpha[0, n // 2, n // 2] == 1 and state.alpha.sum() == 1


def test_a_windowed_memory_grows_for_play_and_keeps_working() -> None:
    from gamegan.model.generator import PLAY_MEMORY_SIZE
    from play.session import GameStarts, SimSession
    from recorder.game import GameConfig

    model = make(**VARIANTS["k2+window"])
    model.memory.resize(11)
    frames, actions, z = data(model.config, t=4)
    ro = model.rollout(frames, actions, warmup=2, z=z)
    assert ro.alphas.shape[-2:] == (11, 11) and model.memory.inside.shape == (9, 121)
    session = SimSession(model, GameStarts(GameConfig(mode="maze", frame_size=32, n_ghosts=0), warmup=2))
    assert session.state.memory.shape == (1, PLAY_MEMORY_SIZE ** 2, model.config.memory_dim)
    assert session.step(4).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="smaller than its window"):
        model.memory.resize(3)


def test_the_hard_window_read_and_write_are_the_soft_ones_for_a_one_hot_alpha() -> None:
    torch.manual_seed(0)
    n, d, w = 9, 3, 5
    memory = torch.randn(2, n * n, d)
    erase, add = torch.rand(2, d, w, w), torch.randn(2, d, w, w)
    for cell in [(4, 4), (0, 0), (8, 1)]:  # the centre, and corners where the window leaves the grid
        alpha = one_hot_grid(n, *cell, b=2)
        torch.testing.assert_close(Memory.read_window_at(memory, alpha, w), Memory.read_window(memory, alpha, w),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(Memory.write_window_at(memory, alpha, erase, add),
                                   Memory.write_window(memory, alpha, erase, add), atol=1e-5, rtol=1e-5)
