#!/usr/bin/env bash
# Training on a Slurm cluster: one task per GPU.
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# shellcheck source=tools/launch_common.sh
source "$(dirname "$0")/launch_common.sh" || exit 2
# PARTITION and JOB_NAME (POS[0], POS[1]) go to srun in run_srun.
take_args 4 "GPUS=N bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]" "$@"
CONFIG=$(abs_input "${POS[2]}")
WORK_DIR=$(abs_path "${POS[3]}")
run_srun tools/train.py "$CONFIG" --work-dir="$WORK_DIR"
