"""Typed configuration for models, losses and training, with presets and `--set` overrides.

Every default lives here, once. The CLI builds a `Config` from a preset plus `key=value`
overrides; a run directory stores it as `config.json`, and checkpoints are checked against it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration problem a user can fix (unknown preset, bad `--set`, bad JSON)."""


@dataclass
class ModelConfig:
    """The simulator's architecture (GameGAN section 5, or a baseline's)."""

    kind: str = "gamegan"
    """Which model: `gamegan`, `action-lstm` or `world-models`."""
    frame_size: int = 64
    """Square frame side in pixels; frames are (3, S, S) in [-1, 1]."""
    n_actions: int = 5
    """Number of discrete actions; taken from the dataset when training starts."""
    action_names: list[str] = field(default_factory=lambda: ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"])
    """Action names from the dataset; kernel tying looks up opposites by these names."""
    z_dim: int = 32
    """Noise vector size per step."""
    hidden_dim: int = 512
    """LSTM hidden size H of the dynamics engine."""
    embed_dim: int = 128
    """Width of the action, noise and memory-read embeddings fused into the engine."""
    encoder_channels: int = 64
    """Base channel width of the frame encoder."""
    memory: bool = True
    """Use the external 2-D grid memory (static component comes from it)."""
    memory_size: int = 21
    """Memory grid side N (N x N cells)."""
    memory_dim: int = 512
    """Memory cell vector size D."""
    memory_tau: float = 0.1
    """Softmax temperature of the action shift kernel."""
    tie_opposite_kernels: bool = False
    """Share shift kernels between opposite actions (DOWN = flipped UP), found by action name."""
    memory_read: str = "cell"
    """How the static component draws from memory. `cell` (GameGAN): from the one vector alpha^T M,
    the memory written from h_t. `window` (not in GameGAN): from the `memory_window` x
    `memory_window` cells around alpha, a map of the world, each step writing the input frame at
    the cells it shows; for views that scroll, where one vector must otherwise hold a whole view."""
    memory_window: int = 15
    """`window` read: memory cells across the view (odd), i.e. how many moves it takes to cross it."""
    memory_gate: str = "engine"
    """What decides whether the attention moves this step. `engine` (GameGAN): g_t from h_t - h_{t-1}.
    `map` (windowed memory only, not in GameGAN): g_t from the memory cells at alpha and where the
    action's kernel points, i.e. the map says whether the way is open; h drifts over a long
    rollout, the map does not."""
    renderer: str = "disentangling"
    """`simple` (one decoder) or `disentangling` (K components with fine masks)."""
    n_components: int = 2
    """K: number of rendered components (static from memory + dynamic ones)."""
    renderer_channels: int = 64
    """Rendering engine width at its finest (half-resolution) level; doubles per halving, up to 8x."""
    renderer_input: bool = False
    """Let the renderer see the input frame x_t (not in GameGAN): it may keep x_t's pixels through
    one more fine mask, and the dynamic components get x_t's feature maps at every decoder size.
    What does not change need not be redrawn and sprites move locally, so a short CPU run learns them."""
    mask_temperature: float = 0.1
    """Softmax temperature of the fine masks that blend components."""
    dynamic_code_dim: int = 128
    """Size of each dynamic component's code, split off a projection of h_t (disentangling)."""
    attribute_channels: int = 16
    """Channels of each component's attribute map A_k (and of its type vector v_k)."""
    disc_channels: int = 64
    """Base channel width of the discriminators' shared frame feature extractor."""
    temporal_scales: int = 3
    """Temporal discriminator heads; each scale halves time (T=16 scores 16, 8 and 4 positions)."""
    wm_latent_dim: int = 32
    """World Models baseline: size of the per-frame VAE latent."""
    wm_mixtures: int = 5
    """World Models baseline: Gaussian mixture components per latent dimension in the MDN-RNN."""
    wm_kl_weight: float = 1.0
    """World Models baseline: weight of the VAE's KL term (its only other loss is pixel MSE)."""
    wm_kl_free_nats: float = 0.5
    """World Models baseline: KL allowed free per latent dimension (the paper's KL tolerance)."""
    wm_temperature: float = 1.0
    """World Models baseline: sampling temperature of the MDN when simulating (0: no noise)."""


@dataclass
class LossConfig:
    """Loss weights (official GameGAN defaults)."""

    adv: float = 1.0
    """Hinge adversarial weight for every discriminator head."""
    action: float = 1.0
    """Action reconstruction cross-entropy from the info head."""
    z_recon: float = 30.0
    """Noise reconstruction MSE from the info head (generator side)."""
    d_z_recon: float = 1.0
    """Noise reconstruction MSE the discriminator's info head learns on generated pairs."""
    feat_match: float = 10.0
    """L1 feature matching on discriminator features."""
    recon: float = 0.05
    """Pixel reconstruction MSE: the main knob (0.001-0.05)."""
    recon_motion: float = 0.0
    """Extra reconstruction weight on pixels that change between consecutive real frames
    (dilated by one pixel): small moving sprites then count (0 = GameGAN's plain MSE)."""
    recon_motion_fake: bool = False
    """Give the `recon_motion` weight also to pixels the prediction changed from the real frame
    before. Without it a sprite erased where it should have stayed (Pac-Man bumping into a
    wall, NOOP) costs a tenth of one that fails to move, and the model learns to drop him."""
    recon_l1: bool = False
    """Reconstruct with absolute instead of squared error. Squared error is minimised by the
    mean of the possible next frames, so a ghost that moves three steps in four is drawn
    faded over both cells (and fades further each step); absolute error is minimised by the
    median, which draws it whole where it most likely goes."""
    recon_horizon_decay: float = 1.0
    """Scale `recon` and `feat_match` on the k-th free-running prediction in a row by this
    to the power k (1 = every step alike, as in GameGAN). Both compare a prediction with the
    one recorded future; far out, where a ghost could be in several cells, that comparison
    is cheapest with no ghost at all, and the model learns to fade them."""
    recon_horizon_keep_agent: bool = False
    """Exempt Pac-Man from `recon_horizon_decay`: the pixels of his recorded cell, before and
    after each step, keep weight 1 in `recon` at every horizon. His path is fixed by the keys,
    so its recorded future is the right target however far out; only what the keys do not
    decide (the ghosts) is left to the discriminators. Needs `state/pacman` in the data."""
    colour: float = 0.0
    """Sliced-Wasserstein distance between the colours of each prediction and of its real frame,
    pixel positions ignored (0 = off, as in GameGAN). It is the same at every horizon, because
    where a ghost is may be uncertain but that the frame holds one, whole, in its colour is not:
    a faded ghost or a red one where the real ghosts turned blue costs, one in another cell does not."""
    cycle: float = 0.05
    """Memory cycle loss (engine, memory and encoder only)."""
    mask_l1: float = 7.5e-5
    """L1 regulariser on the dynamic component's fine mask."""
    r1: float = 10.0
    """R1 gradient penalty weight on real inputs for single-frame and action heads."""
    r1_temporal: float = 50.0
    """R1 weight for the temporal discriminator heads (weighted higher)."""
    r1_every: int = 16
    """Lazy R1: penalise every this many D steps at this many times the weight (StyleGAN2); 1 = every step."""


@dataclass
class TrainConfig:
    """The optimisation schedule and run bookkeeping."""

    steps: int = 20_000
    """Total G+D iterations."""
    batch_size: int = 8
    """Sequences per batch (per process under DDP)."""
    seq_len: int = 16
    """T: frames per training sequence."""
    lr: float = 1e-4
    """Adam learning rate for generator and discriminators."""
    betas: tuple[float, float] = (0.0, 0.9)
    """Adam betas."""
    grad_clip: float = 10.0
    """Global gradient-norm clip for each optimizer step (0 disables)."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of the simulator's weights with this decay (averaging
    over ~1/(1 - decay) steps; 0 keeps none). Play, eval and export then use the average."""
    event_windows: dict[str, float] = field(default_factory=dict)
    """{event name: share}: that share of each batch is windows around the data's named event
    (`events/<name>` in the recording, or one its game derives from state: the recorder's game
    has `fright_onset`, the ghosts turning frightened, and `catch`, a ghost catching Pac-Man),
    the event 2-8 frames in (at the end for one that ends the episode); {} samples windows
    uniformly. A rare event (`gamegan inspect` counts them) is otherwise seldom seen: with
    uniform windows the ghosts learned to stop beside Pac-Man instead of catching him."""
    warmup_start: int = 8
    """w0: ground-truth frames fed at the start of training before free-running."""
    warmup_floor: int = 2
    """Lowest number of ground-truth frames once the decay ends."""
    warmup_decay_steps: int = 10_000
    """Steps over which warm-up decays linearly from `warmup_start` to `warmup_floor`."""
    seed: int = 0
    """Seed for model init, data sampling and noise."""
    device: str = "auto"
    """`auto` (CUDA, then MPS, then CPU), `cpu`, `cuda` or `mps`."""
    amp: bool = True
    """bf16 autocast and channels_last on CUDA; ignored on CPU."""
    compile: bool = False
    """Wrap the models in `torch.compile`."""
    log_every: int = 25
    """Steps between `metrics.jsonl` lines."""
    ckpt_every: int = 500
    """Steps between checkpoints."""
    sample_every: int = 1000
    """Steps between sample strips/GIFs in `samples/`."""
    keep_last: int = 3
    """Checkpoints kept on disk (older ones are deleted)."""
    num_workers: int = 0
    """DataLoader worker processes (0 reads in the main process)."""
    val_fraction: float = 0.05
    """Share of episodes held out for validation, chosen deterministically."""
    schedule: list[dict[str, Any]] = field(default_factory=list)
    """A recipe in stages: entries {"from": STEP, "set": {"section.key": value, ...}}. Once the run
    has done STEP iterations it trains under the config with every entry up to there applied
    (loss weights, sequence length, learning rate, weight averaging, window sampling); model keys
    cannot change mid-run. Saved in config.json, so --resume and --init-from go on with it."""


@dataclass
class Config:
    """Everything that defines a run; saved as `config.json` in the run directory."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    game: dict[str, Any] = field(default_factory=dict)
    """The recorded game's config (from the dataset), so play can run the real game without data."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        data = _migrate(data)
        try:
            config = cls(
                model=_build(ModelConfig, data.get("model", {}), "model"),
                loss=_build(LossConfig, data.get("loss", {}), "loss"),
                train=_build(TrainConfig, data.get("train", {}), "train"),
                game=dict(data.get("game", {})),
            )
        except TypeError as err:
            raise ConfigError(f"invalid config: {err}") from None
        check_schedule(config)
        return config

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")


_RENAMED_EVENT_WINDOWS = {"fright_windows": "fright_onset", "catch_windows": "catch"}
"""Train keys of older configs (the shipped model's among them) that are now `event_windows` entries."""


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A config dict written by an older version, in today's keys (nothing else changes)."""
    train = dict(data.get("train", {}))
    if train.get("teach_events"):
        raise ConfigError("train.teach_events was removed on 2026-12-04 (it never beat training without it, "
                          "training notes 2026-11-22); drop it from this config")
    train.pop("teach_events", None)  # off: the same as today's training
    if not set(_RENAMED_EVENT_WINDOWS) & set(train):
        return {**data, "train": train} if "train" in data else data
    events = dict(train.get("event_windows", {}))
    for old, name in _RENAMED_EVENT_WINDOWS.items():
        share = train.pop(old, 0.0)
        if share:
            events[name] = share
    return {**data, "train": {**train, "event_windows": events}}


SCHEDULE_FIXED = ("train.steps", "train.schedule", "train.seed", "train.device", "train.val_fraction")
"""Keys a schedule may not change: the run's length and identity, and its data split."""


def check_schedule(config: Config) -> None:
    """Every schedule entry well formed, its keys existing and changeable mid-run, its values of
    the right type; ConfigError naming the entry otherwise."""
    data = config.to_dict()
    for i, entry in enumerate(config.train.schedule):
        where = f"train.schedule[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"from", "set"} or not isinstance(entry["set"], dict):
            raise ConfigError(f"{where}: expected {{\"from\": STEP, \"set\": {{\"section.key\": value}}}}, got {entry!r}")
        if not isinstance(entry["from"], int) or isinstance(entry["from"], bool) or entry["from"] < 1:
            raise ConfigError(f"{where}: 'from' must be a step >= 1, got {entry['from']!r}")
        for key, value in entry["set"].items():
            section, name = _resolve_key(data, key)
            if section not in ("loss", "train") or f"{section}.{name}" in SCHEDULE_FIXED:
                raise ConfigError(f"{where}: '{key}' cannot change mid-run (a schedule sets loss.* and train.* "
                                  f"keys other than {', '.join(SCHEDULE_FIXED)})")
            _parse_value(json.dumps(value), data[section][name], key)


def config_at(config: Config, step: int) -> Config:
    """The config a run trains under once it has done `step` iterations: the schedule's entries
    from at or before `step` applied in order (the schedule itself stays as it is)."""
    entries = sorted((e for e in config.train.schedule if e["from"] <= step), key=lambda e: e["from"])
    overrides = [f"{k}={json.dumps(v)}" for e in entries for k, v in e["set"].items()]
    return apply_overrides(config, overrides)  # a fresh Config even when nothing applies


def schedule_steps(config: Config) -> list[int]:
    """The steps at which the schedule changes the config, in order."""
    return sorted({e["from"] for e in config.train.schedule})


def _build(cls: type, data: dict[str, Any], section: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ConfigError(f"unknown config key(s) in '{section}': {', '.join(sorted(unknown))}")
    kwargs = {}
    for key, value in data.items():
        # JSON has no tuples; restore them so configs compare equal after a round trip.
        if isinstance(getattr(cls(), key), tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _preset_tiny() -> Config:
    return Config(
        model=ModelConfig(
            frame_size=32, z_dim=8, hidden_dim=64, embed_dim=32, encoder_channels=16,
            memory=False, renderer="simple", n_components=1, renderer_channels=16,
            disc_channels=16,
        ),
        train=TrainConfig(
            steps=300, batch_size=4, seq_len=8, warmup_start=4, warmup_floor=2,
            warmup_decay_steps=200, log_every=10, ckpt_every=100, sample_every=100,
        ),
    )


def _preset_small() -> Config:
    return Config(
        model=ModelConfig(
            frame_size=64, z_dim=16, hidden_dim=384, embed_dim=64, encoder_channels=32,
            memory=True, memory_size=15, memory_dim=128, renderer="disentangling",
            n_components=2, renderer_channels=16, disc_channels=32, renderer_input=True,
        ),
        # A CPU budget buys a few thousand steps: keeping the input frame and weighting the
        # moving pixels are what let the sprites appear within them, and weighting what the
        # prediction moved is what keeps Pac-Man when a key moves him nowhere (README, model card).
        loss=LossConfig(recon_motion=10.0, recon_motion_fake=True),
        train=TrainConfig(steps=20_000, batch_size=8, seq_len=12, warmup_start=6,
                          warmup_floor=2, warmup_decay_steps=8_000),
    )


def _preset_pacman() -> Config:
    # The shipped classic model's recipe (docs/model-card.md), its phases as a schedule; it
    # expects the bot and random-agent episodes from the start (the shipped run added the
    # random ones at step 3,958). Each entry is what the model card says it did.
    config = _preset_small()
    config.train = dataclasses.replace(config.train, steps=7_000, lr=2e-4, warmup_decay_steps=3_000, schedule=[
        {"from": 3_005, "set": {"train.seq_len": 24}},  # longer windows: Pac-Man lost at h=20, 82 % -> 58 %
        {"from": 4_412, "set": {"loss.recon": 0.01}},
        {"from": 4_730, "set": {"loss.recon_l1": True}},  # ghosts drawn whole for longer
        {"from": 5_746, "set": {"loss.colour": 0.2, "loss.recon_horizon_decay": 0.95,  # the ghosts stay
                                "loss.recon_horizon_keep_agent": True, "train.ema_decay": 0.995,
                                "train.event_windows": {"fright_onset": 0.15}, "train.lr": 1e-4}},
    ])
    return config


def _preset_pacman_maze() -> Config:
    # An egocentric view scrolls the whole frame every move, so a copy of the input frame is
    # wrong nearly everywhere and one memory vector would have to hold a whole view: the
    # static world comes from a windowed memory, one cell per move, 15 moves across the view.
    return Config(
        model=ModelConfig(
            frame_size=64, z_dim=16, hidden_dim=384, embed_dim=64, encoder_channels=32,
            memory=True, memory_size=31, memory_dim=32, memory_read="window", memory_window=15,
            # tau 1: at GameGAN's 0.1 a kernel can stay at "no move" (a sharp softmax passes
            # almost no gradient to the other offsets); at 1 every direction is learned early.
            memory_tau=1.0,
            # The attention moves when the memory's own map says the way is open: the engine's
            # gate missed 17 % of the moves 20 steps into a walk, beyond the 12-frame training
            # windows, and lost the way home (training notes, 2026-12-04: the map gate).
            memory_gate="map",
            tie_opposite_kernels=True, renderer="disentangling", n_components=2, renderer_channels=16,
            disc_channels=32,
        ),
        # The shipped maze model's recipe: 2,881 steps of 12-frame windows (108 minutes on this
        # 2-core CPU, 2 threads), then 24-frame windows to step 4,100 (80 minutes): on walks
        # planned on the real game, walls on return at k = 20 0.835 -> 0.909, and the static
        # component's share of the walls 88.9 -> 90.1 % (training notes, 2026-12-04: longer
        # windows). lr 2e-4 because 1e-4 learned slowly (training notes, 2026-12-03).
        train=TrainConfig(steps=4_100, batch_size=8, seq_len=12, lr=2e-4, warmup_start=6, warmup_floor=2,
                          warmup_decay_steps=2_000, ckpt_every=250,
                          schedule=[{"from": 2_881, "set": {"train.seq_len": 24}}]),
    )


def _preset_paper() -> Config:
    return Config(
        model=ModelConfig(
            frame_size=64, z_dim=32, hidden_dim=512, embed_dim=128, encoder_channels=64,
            memory=True, memory_size=21, memory_dim=512, renderer="disentangling",
            n_components=2, renderer_channels=64, disc_channels=64,
        ),
        train=TrainConfig(steps=100_000, batch_size=16, seq_len=32, warmup_start=16,
                          warmup_floor=4, warmup_decay_steps=50_000),
    )


PRESETS = {"tiny": _preset_tiny, "small": _preset_small, "pacman": _preset_pacman, "pacman-maze": _preset_pacman_maze,
           "paper": _preset_paper}


def preset(name: str) -> Config:
    """A fresh copy of a named preset (`tiny`, `small`, `pacman`, `pacman-maze`, `paper`)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (choose from: {', '.join(PRESETS)})")
    return PRESETS[name]()


_KIND_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    # The baselines are not GANs: plain Adam settings suit their likelihood/pixel losses.
    "action-lstm": {"lr": 1e-3, "betas": (0.9, 0.999)},
    "world-models": {"lr": 1e-3, "betas": (0.9, 0.999)},
}


def with_model_kind(config: Config, kind: str) -> Config:
    """Switch `config` to another model kind, with that kind's optimiser defaults."""
    data = config.to_dict()
    data["model"]["kind"] = kind
    data["train"].update(_KIND_TRAIN_DEFAULTS.get(kind, {}))
    return Config.from_dict(data)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (value parsed as JSON, else taken as a string).

    A bare `key=value` is accepted when the key names exactly one field across sections.
    Unknown keys and values of the wrong type raise `ConfigError`.
    """
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        section, name = _resolve_key(data, key.strip())
        current = data[section][name]
        data[section][name] = _parse_value(raw.strip(), current, key)
    return Config.from_dict(data)


def _resolve_key(data: dict[str, Any], key: str) -> tuple[str, str]:
    if "." in key:
        section, name = key.split(".", 1)
        if section in data and name in data[section]:
            return section, name
        raise ConfigError(f"unknown config key '{key}'")
    owners = [s for s in data if key in data[s]]
    if len(owners) == 1:
        return owners[0], key
    if not owners:
        raise ConfigError(f"unknown config key '{key}'")
    raise ConfigError(f"ambiguous config key '{key}': say {' or '.join(f'{s}.{key}' for s in owners)}")


def _parse_value(raw: str, current: Any, key: str) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(current, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            value = value.lower() in ("true", "yes", "on")
        if not isinstance(value, bool):
            raise ConfigError(f"--set {key}: expected true/false, got '{raw}'")
    elif isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"--set {key}: expected an integer, got '{raw}'")
    elif isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"--set {key}: expected a number, got '{raw}'")
        value = float(value)
    elif isinstance(current, str):
        value = str(value) if not isinstance(value, str) else value
    elif isinstance(current, (list, tuple)):
        if not isinstance(value, list):
            raise ConfigError(f"--set {key}: expected a JSON list, got '{raw}'")
    elif isinstance(current, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"--set {key}: expected a JSON object, got '{raw}'")
    return value
