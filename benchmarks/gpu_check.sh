#!/usr/bin/env bash
# Every GPU check in one go, for a machine with one CUDA GPU and this package installed
# (pip install -e ".[test]" with a CUDA build of torch): the CUDA tests (bf16 autocast forward
# and backward of every model, channels_last, torch.compile, a 50-step `paper` run, a play step,
# NCCL), then `paper` training throughput and peak memory. Prints one JSON line; < 8 minutes.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo '{"gpu": "none", "error": "no CUDA device: these checks need one"}'
  exit 2
fi
log=$(mktemp)
start=$(date +%s)
timeout 360 "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py >"$log" 2>&1
tests_rc=$?
tests_line=$(grep -E "passed|failed|error|skipped" "$log" | tail -1)
bench=$(timeout 120 "$PY" -m gamegan_cli bench train --preset paper --device cuda --iters 5 2>/dev/null | tail -1)
[ -n "$bench" ] || bench=null
gpu=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')")
torch_version=$("$PY" -c "import torch; print(torch.__version__)")
"$PY" - "$tests_rc" "$tests_line" "$gpu" "$torch_version" "$(( $(date +%s) - start ))" "$bench" <<'PYEOF'
import json, sys
rc, tests, gpu, version, seconds, bench = sys.argv[1:7]
print(json.dumps({"gpu": gpu, "torch": version, "cuda_tests_ok": rc == "0", "cuda_tests": tests,
                  "paper_bench": json.loads(bench), "seconds": int(seconds)}))
PYEOF
if [ "$tests_rc" != 0 ]; then tail -30 "$log" >&2; fi
rm -f "$log"
exit "$tests_rc"
