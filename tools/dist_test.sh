#!/usr/bin/env bash
# Distributed evaluation with torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args...]
set -euo pipefail
# shellcheck source=tools/caller_paths.sh
source "$(dirname "$0")/caller_paths.sh"
usage() { echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args...]" >&2; exit 2; }
[ $# -ge 3 ] || usage
CONFIG=$1
CHECKPOINT=$2
NGPUS=$3
case "$NGPUS" in
  ""|*[!0-9]*|0) echo "NGPUS=$NGPUS: give the number of processes per machine (>= 1)" >&2
                 usage ;;
esac
shift 3
CONFIG=$(abs_input "$CONFIG")
CHECKPOINT=$(abs_input "$CHECKPOINT")
abs_path_args "$@"
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$NGPUS" --master_port="$PORT" \
  tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch ${ARGS[@]+"${ARGS[@]}"}
