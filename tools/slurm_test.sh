#!/usr/bin/env bash
# Evaluation on a Slurm cluster: one task per GPU.
#   GPUS=4 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# shellcheck source=tools/launch_common.sh
source "$(dirname "$0")/launch_common.sh" || exit 2
# PARTITION and JOB_NAME (POS[0], POS[1]) go to srun in run_srun.
take_args 4 "GPUS=N bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" "$@"
CONFIG=$(abs_input "${POS[2]}")
CHECKPOINT=$(abs_input "${POS[3]}")
run_srun tools/test.py "$CONFIG" "$CHECKPOINT"
