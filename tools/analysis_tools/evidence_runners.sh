#!/usr/bin/env bash
# A pre-registered protocol with several runners side by side (docs/evidence.md, "Commands"):
#   bash tools/analysis_tools/evidence_runners.sh PROTOCOL RUNNERS [ablation.py args...]
# Runner k of N runs the protocol's seeds s with s % N == k, every arm of each seed, seed-major,
# so no two runners ever touch the same arm and seed (work dir, checkpoint, per-seed JSON), and
# each seed's pairs complete inside one runner. Every runner resumes what it finds, like
# ablation.py itself, so the same line finishes a protocol across sessions.
#   CPU (2 cores):  bash tools/analysis_tools/evidence_runners.sh docs/evidence/v2/protocol.json 2
#   one GPU:        THREADS=2 bash tools/analysis_tools/evidence_runners.sh \
#                       docs/evidence/v2/protocol.json 4
# THREADS (default 1) is each runner's OMP_NUM_THREADS; LOG_DIR (default work_dirs/evidence)
# holds runner<k>.log. Extra arguments go to every runner (e.g. --arms ..., --dry-run). After
# the runners, the report is rewritten once from all per-seed JSON (--report-only). Exits 1 if
# any runner failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 PROTOCOL RUNNERS [ablation.py args...]  (RUNNERS a positive integer)" >&2
  exit 2
fi
protocol=$1 runners=$2
shift 2
[ -f "$protocol" ] || { echo "$0: protocol $protocol does not exist" >&2; exit 2; }
log_dir=${LOG_DIR:-work_dirs/evidence}
mkdir -p "$log_dir"
# The protocol's seeds, dealt to the runners by residue.
mapfile -t shares < <("$PYTHON" - "$protocol" "$runners" <<'EOF'
import sys
from mmseg_ccam.analysis.evidence.protocol import load_protocol
proto, n = load_protocol(sys.argv[1]), int(sys.argv[2])
seeds = sorted({int(s) for arm in proto['arms'].values() if arm.get('enabled', True)
                for s in arm['seeds']})
for k in range(n):
    print(' '.join(str(s) for s in seeds if s % n == k))
EOF
)
pids=()
for k in "${!shares[@]}"; do
  [ -n "${shares[$k]}" ] || continue
  # shellcheck disable=SC2086  # the seed list is meant to split into words
  OMP_NUM_THREADS=${THREADS:-1} "$PYTHON" tools/analysis_tools/ablation.py --protocol "$protocol" \
    --seeds ${shares[$k]} "$@" > "$log_dir/runner$k.log" 2>&1 &
  pids+=($!)
  echo "runner $k: seeds ${shares[$k]} (log $log_dir/runner$k.log)"
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
"$PYTHON" tools/analysis_tools/ablation.py --protocol "$protocol" --report-only > /dev/null
exit $status
