"""Turn evaluation figures (what metrics.json holds) into report.md and PNG plots.

Plots use matplotlib's Agg backend (no display needed); rollout strips are drawn with PIL
so every pixel of the small frames stays crisp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from gamegan.media import grid, upscale

REFERENCE = "recorded"
"""Name of the reference row: the recorded frames themselves, scored like a model."""


def write_report(figures: dict, strips: dict[str, list[np.ndarray]], real_strips: list[np.ndarray], out_dir: Path,
                 plots: bool = True) -> list[Path]:
    """Write report.md (and, with `plots`, the PNGs it links) into `out_dir`; returns the files written.

    `strips` holds, per model, example windows (context frames, then generated ones);
    `real_strips` the recorded frames of the same windows.
    """
    out_dir = Path(out_dir)
    written = _plots(figures, out_dir) + _rollout_strips(figures, strips, real_strips, out_dir) if plots else []
    report = out_dir / "report.md"
    report.write_text(_markdown(figures, [p.name for p in written]))
    return [report, *written]


# --- markdown ----------------------------------------------------------------------------------

def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _at(model: dict, name: str, h: int) -> float | None:
    return model.get("free_running", {}).get(name, {}).get("at", {}).get(str(h))


def _markdown(figures: dict, plots: list[str]) -> str:
    s, d, models = figures["settings"], figures["data"], figures["models"]
    hs = s["horizons"]
    names = list(models)
    any_model = next(iter(models.values()), {})
    counts = any_model.get("free_running", {}).get("psnr", {}).get("count", [])
    windows_at = ", ".join(f"h={h}: {counts[h - 1] if h <= len(counts) else 0}" for h in hs)
    out = [
        "# Evaluation report", "",
        f"Data: `{d['path']}` ({d['mode']} mode, {d['frame_shape'][0]}x{d['frame_shape'][1]} px), "
        f"**{d['episodes_used']} episodes**, {d['frames_used']} frames. Free-running rollouts start from "
        f"{s['context']} real frames and follow the recorded actions; horizon h is the h-th generated frame. "
        f"Rows are models; `{REFERENCE}` scores the recorded frames themselves (the ceiling of each column). "
        "Every figure and setting is in `metrics.json`.", "",
    ]
    if figures["skipped"]:
        out += ["Skipped: " + "; ".join(f"**{k}** ({v})" for k, v in figures["skipped"].items()), ""]
    out += ["## Next frame, teacher-forced", "",
            f"Windows of {s['teacher_len']} frames, every input real (warm-up T-1).", "",
            _table(["model", "PSNR (dB)", "SSIM", "frames"],
                   [[n, m.get("teacher_forced", {}).get("psnr"), m.get("teacher_forced", {}).get("ssim"),
                     m.get("teacher_forced", {}).get("frames")] for n, m in models.items()]), ""]
    out += ["## Free-running PSNR (dB) by horizon", "", f"Windows behind each horizon: {windows_at}.", "",
            _table(["model"] + [f"h={h}" for h in hs], [[n] + [_at(m, "psnr", h) for h in hs] for n, m in models.items()]), ""]
    if "position_error" in any_model.get("free_running", {}):
        out += ["## Pac-Man position error (cells) and lost rate by horizon", "",
                "Error: distance from the recorded cell where Pac-Man was found (mean over frames where he was); "
                "lost: share of frames where no cell holds his colour.", "",
                _table(["model"] + [f"err h={h}" for h in hs] + [f"lost h={h}" for h in hs],
                       [[n] + [_at(m, "position_error", h) for h in hs] + [_at(m, "lost", h) for h in hs]
                        for n, m in models.items()]), ""]
    out += (_agreement(figures, names), _diversity(models), _pixel_sources(models),
            _controllability(models), _come_back_home(figures), _swap(models), _fright_onset(models),
            _catches(models))
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    strips = [p for p in plots if p.startswith("rollout_")]
    if strips:
        out += [f"Rollout strips: first row recorded frames, then one row per model ({', '.join(n for n in names if n != REFERENCE)}); "
                f"the first {s['context']} columns are the real context.", ""]
    return "\n".join(x for x in out if x is not None)


def _agreement(figures: dict, names: list[str]) -> str:
    models, idf = figures["models"], figures.get("inverse_dynamics") or {}
    rows = []
    for n in names:
        fr, af = models[n].get("free_running", {}), models[n].get("action_faithfulness", {})
        rows.append([n, fr.get("ghost_count_agreement", {}).get("all"), fr.get("pellet_accuracy", {}).get("all"),
                     fr.get("pellet_iou", {}).get("all"), af.get("accuracy"), af.get("pairs")])
    text = ["## State agreement and action faithfulness (all horizons)", "",
            _table(["model", "ghost count agreement", "pellet accuracy", "pellet IoU", "action accuracy", "pairs"], rows), ""]
    if idf:
        text += [f"Action accuracy is the inverse-dynamics classifier's (trained on `{idf.get('source')}`, "
                 f"{idf.get('train_pairs')} real transitions) on each model's generated transitions; on "
                 f"{idf.get('heldout_pairs')} real transitions of held-out episodes it scores "
                 f"{_fmt(idf.get('heldout_accuracy'))}. A move into a wall looks like NOOP, so 1.0 is out of reach.", ""]
    return "\n".join(text)


def _diversity(models: dict) -> str | None:
    rows = [[n, m["diversity"].get("ghost_cells"), m["diversity"].get("wall_cells"), m["diversity"].get("windows")]
            for n, m in models.items() if "diversity" in m]
    if not rows:
        return None
    return "\n".join([
        "## Diversity", "",
        "Two rollouts with different noise from the same start and actions: mean |difference| on [0, 1] pixels of "
        "ghost cells and of wall cells. A stochastic simulator should differ on ghosts and agree on walls; a "
        "deterministic one scores 0 on both.", "",
        _table(["model", "ghost cells", "wall cells", "windows"], rows), ""])


def _pixel_sources(models: dict) -> str | None:
    have = {n: m["pixel_sources"] for n, m in models.items() if "pixel_sources" in m}
    if not have:
        return None
    text = ["## Pixel sources", "",
            "Over the free-running rollouts: the share of output pixels each source of the renderer wins "
            "(largest blend weight), overall and per entity class of the recorded frame (read by the palette). "
            "`static` is drawn from the memory, `dynamic k` from the engine's state, `copy` is the input frame.", ""]
    for n, ps in have.items():
        sources = list(ps["won"])
        rows = [["all pixels", ps["pixels"]] + [ps["won"][x] for x in sources]]
        rows += [[c, v["pixels"]] + [(v["won"] or {}).get(x) for x in sources]
                 for c, v in ps.get("by_class", {}).items() if v["pixels"]]
        text += [f"**{n}** (mean blend weight: " + ", ".join(f"{x} {_fmt(w)}" for x, w in ps["mean_weight"].items()) + ")", "",
                 _table(["class", "pixels"] + [f"won by {x}" for x in sources], rows), ""]
    return "\n".join(text)


def _controllability(models: dict) -> str | None:
    have = {n: m["controllability"]["at"] for n, m in models.items() if m.get("controllability", {}).get("at")}
    if not have:
        return None
    ts = sorted({t for at in have.values() for t in at}, key=int)

    def cell(at: dict, t: str) -> str:
        return f"{at[t]['delta_psnr']:.2f} ± {at[t]['se']:.2f}" if t in at else "—"

    windows = next(iter(have.values()))[ts[0]]["windows"]
    return "\n".join([
        "## Controllability (ΔPSNR, dB)", "",
        f"PSNR of a rollout driven by the recorded actions minus one driven by random actions (same start and "
        f"noise), at generated frame t; ± one standard error over {windows} windows. An action-blind model scores 0.", "",
        _table(["model"] + [f"t={t}" for t in ts], [[n] + [cell(at, t) for t in ts] for n, at in have.items()]), ""])


PLAYED = ", as played"


def _with_played(models: dict, key: str) -> dict[str, dict]:
    """Each model's `key` figures, followed (for models with memory) by the same figures with the
    hard attention of `gamegan play`, as a row named "MODEL, as played"."""
    have = {}
    for n, m in models.items():
        if m.get(key):
            have[n] = m[key]
        if m.get(key + "_played"):
            have[n + PLAYED] = m[key + "_played"]
    return have


def _come_back_home(figures: dict) -> str | None:
    models, ref = figures["models"], figures.get("come_back_home_reference") or {}
    have = _with_played(models, "come_back_home")
    if not have:
        return None
    ks = sorted({k for h in have.values() for k in h}, key=int)
    attends = any("attention_home" in v for h in have.values() for v in h.values())

    def cells(h: dict, p: str = "") -> list[str]:  # p: "" walks planned on the real game, "own_" in its own maze
        def pm(k: str, name: str, digits: int) -> str:
            v = h.get(k, {})
            return f"{v[name]:.{digits}f} ± {v[name + '_se']:.{digits}f}" if name in v else "—"
        third = "away_wall_agreement" if not p else "own_moved"
        return ([pm(k, p + "wall_agreement", 3) for k in ks] + [pm(k, p + "psnr", 1) for k in ks]
                + [pm(k, third, 3) for k in ks]
                + ([pm(k, p + "attention_home", 2) for k in ks] + [pm(k, p + "moves_held", 3) for k in ks] if attends else []))

    def header(third: str) -> list[str]:
        return (["model"] + [f"walls k={k}" for k in ks] + [f"PSNR k={k}" for k in ks] + [f"{third} k={k}" for k in ks]
                + ([f"attention home k={k}" for k in ks] + [f"held k={k}" for k in ks] if attends else []))

    first, *others = [n for n in have if not n.endswith(PLAYED)]  # the model under evaluation, then its --baseline rows

    def ratios(p: str) -> list[str]:
        lines = []
        for row in [first, first + PLAYED] if others else []:
            if row not in have:
                continue
            out = []
            for k in ks:
                g = have[row].get(k, {}).get(p + "wall_error")
                o = min((have[n][k][p + "wall_error"] for n in others if p + "wall_error" in have[n].get(k, {})), default=None)
                out.append(f"k={k}: {g / o:.2f}" if g is not None and o else f"k={k}: —")
            lines += [f"Wall-cell error of {row} ÷ the best baseline's: " + ", ".join(out)
                      + " (below 1: it remembers the maze better).", ""]
        return lines

    rows = [[n] + cells(h) for n, h in have.items()]
    if ref:
        rows.append(["random frame of the episode"] + cells(ref))
    walks = next(iter(have.values()))[ks[0]]["walks"]
    text = ["## Come back home (maze)", "",
            f"From a real start, k legal moves away and their exact reverse; the simulator's frame on return against "
            f"the real one: wall-cell agreement (by palette) and PSNR (dB), ± one standard error over {walks} walks; "
            "`away` is the wall agreement at the turning point (a simulator whose view never moves comes home "
            "to the right walls without having left, and fails there). "
            "The last row scores a real frame from between leaving and returning: what forgetting the start costs. "
            f"Rows ending `{PLAYED}` run a model with memory with the one-hot attention of `gamegan play`; the others "
            "with the soft attention it was trained with."
            + (" `attention home`: the share of walks whose memory attention ends on the cell it started from; "
               "`held`: the share of moves after which it attends the same cell (each one a move the memory "
               "missed: every move of a walk moves Pac-Man)." if attends else ""), "",
            _table(header("away"), rows), "", *ratios("")]
    own = {n: h for n, h in have.items() if any("own_wall_agreement" in v for v in h.values())}
    if own:
        text += ["### In its own maze", "",
                 "The same starts, but each of the k moves planned on the frame the simulator has just drawn (into a "
                 "cell it shows open, never straight back), as a player walks it; then their reverse. The return frame "
                 "against the real start frame: beyond the start view the simulator's maze is its own invention, and "
                 "here only remembering it brings the start back. `moved`: the share of wall cells that changed by the "
                 "turning point (0: the view never moved). `held` counts moves the simulator drew open but did not make.",
                 "", _table(header("moved"), [[n] + cells(h, "own_") for n, h in own.items()]), "", *ratios("own_")]
    if figures.get("come_back_home_gif"):
        shown = first + PLAYED if first + PLAYED in have else first
        text += [f"One walk of the longest k, {shown} (left) beside the real game (right):", "",
                 f"![come back home]({figures['come_back_home_gif']})", ""]
    return "\n".join(text)


def _swap(models: dict) -> str | None:
    have = _with_played(models, "swap")
    if not have:
        return None
    ts = sorted({t for s in have.values() for t in s["at"]}, key=int)
    ts = [t for t in ts if int(t) in (0, 1, 5, 10) or t == ts[-1]]
    rows = []
    for n, s in have.items():
        for name, label in (("swapped", "with B's memory"), ("unswapped", "its own (reference)")):
            rows.append([f"{n}, {label}"] + [f"{s['at'][t][name]:.3f} ± {s['at'][t][name + '_se']:.3f}" for t in ts])
    pairs = next(iter(have.values()))["pairs"]
    return "\n".join([
        "## Swap of the static component (maze)", "",
        f"{pairs} pairs of real starts A and B in different mazes: the simulator, warmed up on A, takes B's memory "
        "and walks moves planned on B's game. Wall-cell agreement with B's real frames at the swap (t=0) and after t "
        "moves; the reference keeps A's own memory (what drawing another maze scores).", "",
        _table(["model, memory"] + [f"t={t}" for t in ts], rows), ""])


def _fright_onset(models: dict) -> str | None:
    have = {n: m["fright_onset"] for n, m in models.items() if "fright_onset" in m}
    if not have:
        return None
    first = next(iter(have.values()))
    k = first["onset_frame"] - 1  # predicted frame ONSET is list index ONSET - 1

    def mean(v: list[float]) -> float:
        return sum(v) / len(v)

    rows = [[n, f["onset/teacher"][k], f["onset/free"][k], mean(f["during/teacher"]), mean(f["during/free"])]
            for n, f in have.items()]
    return "\n".join([
        "## Fright onset: are the ghosts drawn blue when the real ones turn?", "",
        f"Share of windows with a frightened (blue) ghost drawn: at the frame the real ghosts turn blue "
        f"({first['onset/windows']} `onset` windows, blue from frame {first['onset_frame']}), teacher-forced and "
        f"free-running from the frames before it; and over windows that are blue throughout "
        f"({first['during/windows']} `during` windows). A model that knows the rule scores near 1 in every column.", "",
        _table(["model", "onset, teacher-forced", "onset, free-running", "during, teacher-forced",
                "during, free-running"], rows), ""])


def _catches(models: dict) -> str | None:
    have = {n: m["catches"] for n, m in models.items() if "catches" in m}
    if not have:
        return None
    first = next(iter(have.values()))
    rows = [["recorded frames", first["recorded"]["caught"], first["recorded"]["beside"], None, None, None]]
    rows += [[n, c["teacher"]["caught"], c["teacher"]["beside"], c["free"]["caught"], c["free"]["beside"],
              f"{c['teacher_standing'][0]} of {c['teacher_standing'][1]}"] for n, c in have.items()]
    found, frames = first["recorded_false_catches"]
    return "\n".join([
        "## Catches: is the catch drawn where a real ghost catches Pac-Man?", "",
        f"{first['windows']} windows ending on a real catch; at the catch frame, the share read as `caught` (a ghost "
        "under Pac-Man, or he vanishes next to one) and as `beside` (a ghost next to him, no catch), teacher-forced "
        "and free-running over the last frames; and the catches teacher-forced where he stood still next to the "
        f"ghost. A model that knew the real odds would draw `caught` in {first['odds_caught']:.2f} of the windows; "
        f"{found} of {frames} other recorded frames read as a catch.", "",
        _table(["model", "caught, teacher-forced", "beside, teacher-forced", "caught, free", "beside, free",
                "caught where he stood still"], rows), ""])


# --- plots -------------------------------------------------------------------------------------

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plots(figures: dict, out_dir: Path) -> list[Path]:
    plt = _pyplot()
    models = {n: m for n, m in figures["models"].items() if "free_running" in m}
    written = []

    def curve(ax: Any, name: str, metric: str, **kw: Any) -> None:
        values = models[name]["free_running"].get(metric, {}).get("by_horizon", [])
        y = [np.nan if v is None else v for v in values]
        ax.plot(range(1, len(y) + 1), y, label=name, **kw)

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in models:
        if n != REFERENCE:  # the reference sits at the PSNR cap
            curve(ax, n, "psnr", marker=".")
    ax.set(xlabel="horizon (steps after the last real frame)", ylabel="PSNR (dB)", title="Free-running PSNR")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    written.append(_save(fig, out_dir / "psnr_by_horizon.png"))

    if any("position_error" in m["free_running"] for m in models.values()):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for n in models:
            style = {"linestyle": "--", "color": "black"} if n == REFERENCE else {"marker": "."}
            curve(axes[0], n, "position_error", **style)
            curve(axes[1], n, "lost", **style)
        axes[0].set(xlabel="horizon", ylabel="cells", title="Pac-Man position error (when found)")
        axes[1].set(xlabel="horizon", ylabel="share of frames", title="Pac-Man lost", ylim=(-0.02, 1.02))
        for a in axes:
            a.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        written.append(_save(fig, out_dir / "position_error_by_horizon.png"))

    confusion = _confusion_plot(plt, figures, out_dir)
    if confusion:
        written.append(confusion)
    home = _home_plot(plt, figures, out_dir)
    if home:
        written.append(home)
    return written


def _confusion_plot(plt: Any, figures: dict, out_dir: Path) -> Path | None:
    names = figures["data"]["action_names"]
    panels = []
    heldout = (figures.get("inverse_dynamics") or {}).get("heldout_confusion")
    if heldout:
        panels.append(("classifier on real held-out", np.array(heldout)))
    panels += [(n, np.array(m["action_faithfulness"]["confusion"])) for n, m in figures["models"].items()
               if "action_faithfulness" in m]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, counts) in zip(axes[0], panels):
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(f"{title}\naccuracy {np.trace(counts) / max(counts.sum(), 1):.2f}", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
    axes[0][0].set_ylabel("recorded action", fontsize=7)
    return _save(fig, out_dir / "action_confusion.png")


def _home_plot(plt: Any, figures: dict, out_dir: Path) -> Path | None:
    have = _with_played(figures["models"], "come_back_home")
    if not have:
        return None
    reference = figures.get("come_back_home_reference") or {}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for n, h in [*have.items(), *([("random frame of the episode", reference)] if reference else [])]:
        ks = sorted(int(k) for k in h)
        ax.errorbar(ks, [h[str(k)]["wall_agreement"] for k in ks], yerr=[h[str(k)]["wall_agreement_se"] for k in ks],
                    marker="o", capsize=3, label=n, linestyle="--" if h is reference else "-")
        if all("own_wall_agreement" in h[str(k)] for k in ks):
            ax.errorbar(ks, [h[str(k)]["own_wall_agreement"] for k in ks],
                        yerr=[h[str(k)]["own_wall_agreement_se"] for k in ks], marker="s", capsize=3,
                        label=f"{n}, in its own maze", linestyle=":")
    ax.set(xlabel="k (moves away, then back)", ylabel="wall-cell agreement on return", title="Come back home",
           ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the curves, not over them
    return _save(fig, out_dir / "come_back_home.png")


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- rollout strips ----------------------------------------------------------------------------

def _rollout_strips(figures: dict, strips: dict[str, list[np.ndarray]], real: list[np.ndarray], out_dir: Path) -> list[Path]:
    """One PNG per example window: the recorded frames, then each model's row, labelled."""
    s = figures["settings"]
    context = s["context"]
    models = [n for n in strips if n != REFERENCE and strips[n]]
    written = []
    for i, frames in enumerate(real):
        n_gen = len(frames) - context
        hs = sorted({h for h in range(1, min(10, n_gen) + 1)} | {h for h in s["horizons"] if h <= n_gen})
        cols = list(range(context)) + [context - 1 + h for h in hs]
        rows = [[frames[c] for c in cols]] + [[strips[n][i][c] for c in cols] for n in models if i < len(strips[n])]
        scale = max(1, 64 // frames.shape[1])
        image = upscale(grid(rows, pad=2), scale)
        labels = ["recorded"] + models
        header = ["ctx"] * context + [f"h{h}" for h in hs]
        written.append(_label(image, labels, header, frames.shape[1] * scale, 2 * scale, out_dir / f"rollout_{i}.png"))
    return written


def _label(image: np.ndarray, rows: list[str], columns: list[str], cell: int, pad: int, path: Path) -> Path:
    """Add row names on the left and column names on top (PIL's default font)."""
    left, top = 8 + 7 * max(len(r) for r in rows), 14
    canvas = Image.new("RGB", (image.shape[1] + left, image.shape[0] + top), "white")
    canvas.paste(Image.fromarray(image), (left, top))
    draw = ImageDraw.Draw(canvas)
    for i, name in enumerate(rows):
        draw.text((4, top + i * (cell + pad) + cell // 2 - 5), name, fill="black")
    for j, name in enumerate(columns):
        draw.text((left + j * (cell + pad) + 2, 1), name, fill="black")
    canvas.save(path)
    return path
