"""Recorder throughput on this machine: one JSON line (same as `gamegan bench record`).

Usage: python benchmarks/record.py [episodes] [frame_size]
"""

import json
import sys

from recorder.bench import bench_record

if __name__ == "__main__":
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    print(json.dumps(bench_record(episodes=episodes, frame_size=size)))
