#!/usr/bin/env bash
# Distributed training on one or several machines with torchrun.
#   bash tools/dist_train.sh CONFIG NGPUS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 bash tools/dist_train.sh CONFIG 8
# On machines without CUDA the gloo backend is used automatically (one process per NGPUS).
set -euo pipefail
# shellcheck source=tools/caller_paths.sh
source "$(dirname "$0")/caller_paths.sh"
usage() { echo "usage: bash tools/dist_train.sh CONFIG NGPUS [train.py args...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
CONFIG=$1
NGPUS=$2
case "$NGPUS" in
  ""|*[!0-9]*|0) echo "NGPUS=$NGPUS: give the number of processes per machine (>= 1)" >&2
                 usage ;;
esac
shift 2
CONFIG=$(abs_input "$CONFIG")
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
  tools/train.py "$CONFIG" --launcher pytorch ${ARGS[@]+"${ARGS[@]}"}
