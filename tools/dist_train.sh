#!/usr/bin/env bash
# Distributed training on one or several machines with torchrun.
#   bash tools/dist_train.sh CONFIG NGPUS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 bash tools/dist_train.sh CONFIG 8
# On machines without CUDA the gloo backend is used automatically (one process per NGPUS).
set -euo pipefail
CONFIG=$1
NGPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$NGPUS" --master_port="$PORT" \
  tools/train.py "$CONFIG" --launcher pytorch "$@"
