#!/usr/bin/env bash
# Distributed training on one or several machines with torchrun.
#   bash tools/dist_train.sh CONFIG NGPUS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 bash tools/dist_train.sh CONFIG 8
# On machines without CUDA the gloo backend is used automatically (one process per NGPUS).
# shellcheck source=tools/launch_common.sh
source "$(dirname "$0")/launch_common.sh" || exit 2
take_args 2 "bash tools/dist_train.sh CONFIG NGPUS [train.py args...]" "$@"
CONFIG=$(abs_input "${POS[0]}")
NGPUS=${POS[1]}
run_torchrun "$NGPUS" tools/train.py "$CONFIG"
