#!/usr/bin/env bash
# Distributed evaluation with torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args...]
# shellcheck source=tools/launch_common.sh
source "$(dirname "$0")/launch_common.sh" || exit 2
take_args 3 "bash tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args...]" "$@"
CONFIG=$(abs_input "${POS[0]}")
CHECKPOINT=$(abs_input "${POS[1]}")
NGPUS=${POS[2]}
run_torchrun "$NGPUS" tools/test.py "$CONFIG" "$CHECKPOINT"
