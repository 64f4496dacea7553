#!/usr/bin/env bash
# Evaluation on a Slurm cluster: one task per GPU.
#   GPUS=4 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -euo pipefail
# shellcheck source=tools/caller_paths.sh
source "$(dirname "$0")/caller_paths.sh"
usage() { echo "usage: GPUS=N bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2; exit 2; }
[ $# -ge 4 ] || usage
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
CONFIG=$(abs_input "$CONFIG")
CHECKPOINT=$(abs_input "$CHECKPOINT")
abs_path_args "$@"
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
# GRES= (empty) on CPU-only partitions, which reject --gres=gpu:N.
GRES=${GRES-gpu:$GPUS_PER_NODE}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086
srun -p "$PARTITION" --job-name="$JOB_NAME" ${GRES:+--gres="$GRES"} \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 $SRUN_ARGS \
  "$PYTHON" -u tools/test.py "$CONFIG" "$CHECKPOINT" --launcher slurm ${ARGS[@]+"${ARGS[@]}"}
