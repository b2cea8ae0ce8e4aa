"""Data loading throughput: training frames/s that `SequenceData` delivers, in memory and
read lazily from HDF5, to compare with the trainer's consumption (`gamegan bench train`).

Usage: python benchmarks/data.py DATASET [batch] [seq_len]
"""

import json
import sys
import time

import numpy as np

from gamegan.data import SequenceData


def frames_per_s(data: SequenceData, batch: int, seconds: float = 3.0) -> float:
    rng = np.random.default_rng(0)
    data.sample(rng, batch)  # open files, warm caches
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        data.sample(rng, batch)
        n += 1
    return n * batch * data.seq_len / (time.perf_counter() - start)


if __name__ == "__main__":
    path = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    seq_len = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    print(json.dumps({
        "batch": batch, "seq_len": seq_len,
        "in_memory_frames_per_s": round(frames_per_s(SequenceData(path, seq_len, in_memory=True), batch)),
        "lazy_hdf5_frames_per_s_one_process": round(frames_per_s(SequenceData(path, seq_len, in_memory=False), batch)),
    }))
