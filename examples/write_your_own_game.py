"""Record a game of your own in gamegan's format with numpy and h5py: a dot moved by 4 actions.
Usage: python examples/write_your_own_game.py data/dot && gamegan inspect data/dot"""
import json, os, sys  # noqa: E401

import h5py
import numpy as np

NAMES, MOVES = ["stay", "left", "right", "jump"], [(0, 0), (0, -2), (0, 2), (-4, 0)]  # ids = positions
out = sys.argv[1] if len(sys.argv) > 1 else "data/dot"
rng = np.random.default_rng(0)
frames, actions, lengths, scores = [], [], [], []
for episode in range(20):
    y, x, score = 24, int(rng.integers(4, 28)), 0.0
    for t in range(40):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[y:y + 3, x:x + 3] = (255, 200, 0)
        a = int(rng.integers(4)) if t < 39 else -1  # -1 marks each episode's last frame
        frames.append(frame), actions.append(a)
        dy, dx = MOVES[max(a, 0)]
        y, x = min(max(y + dy, 0) + 1, 24), min(max(x + dx, 0), 29)  # a jump, then gravity
        score += 0.5 * (a == 3)  # any numeric score: int or float
    lengths.append(40), scores.append(score)
os.makedirs(out, exist_ok=True)
with h5py.File(os.path.join(out, "shard-00000.h5"), "w") as f:
    f.attrs.update({"format": "gamegan-episodes", "format_version": 1, "frame_shape": [32, 32, 3],
                    "n_actions": len(NAMES), "action_names": json.dumps(NAMES), "created_with": "my game 1.0",
                    "game": json.dumps({"mode": "dot"}), "palette": json.dumps({"floor": [0, 0, 0]})})
    f["frames"], f["actions"] = np.stack(frames), np.array(actions, np.int8)
    f["episodes/start"] = np.cumsum([0] + lengths[:-1]).astype(np.int64)
    f["episodes/length"], f["episodes/seed"] = np.array(lengths, np.int64), np.arange(20, dtype=np.int64)
    f["episodes/agent"] = np.array(["random"] * 20, dtype=h5py.string_dtype())
    f["episodes/score"] = np.array(scores, np.float32)
print(f"wrote {len(frames)} frames of {len(lengths)} episodes to {out}")
