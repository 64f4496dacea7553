# Sourced by tools/{dist,slurm}_{train,test}.sh, which name only their positional arguments
# and the Python tool they start; the argument checks, the caller-relative paths and the
# torchrun / srun command lines (MMSegmentation's) are here once.
set -euo pipefail

# A path made absolute against the caller's directory: paths given relative to it stay
# relative to it, although the tools run from the repository root (where the configs'
# relative data_root points).
abs_path() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# An input file (config, checkpoint) relative to the caller if it exists there, else as given
# (relative to the repository root, as before).
abs_input() { if [ -e "$1" ]; then abs_path "$1"; else printf '%s\n' "$1"; fi; }

# ARGS: the arguments with the values of the output options made absolute.
ARGS=()
abs_path_args() {
  ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --work-dir|--out|--show-dir|--json)
        ARGS+=("$1"); shift
        if [ $# -gt 0 ]; then ARGS+=("$(abs_path "$1")"); shift; fi ;;
      --work-dir=*|--out=*|--show-dir=*|--json=*)
        ARGS+=("${1%%=*}=$(abs_path "${1#*=}")"); shift ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
}

# take_args N USAGE "$@": POS = the first N arguments, ARGS = the rest (the Python tool's
# options, see abs_path_args); fewer than N arguments print USAGE and exit 2.
POS=()
USAGE=
take_args() {
  local n=$1
  USAGE=$2
  shift 2
  [ $# -ge "$n" ] || launch_usage
  POS=("${@:1:$n}")
  abs_path_args "${@:$((n + 1))}"
}
launch_usage() { echo "usage: $USAGE" >&2; exit 2; }

# run_torchrun NPROCS TOOL ARG...: TOOL with its ARGs, --launcher pytorch and ARGS on NPROCS
# processes per machine; NNODES, NODE_RANK, MASTER_ADDR, PORT and PYTHON from the environment.
# On machines without CUDA the tools use the gloo backend (one process per NPROCS).
run_torchrun() {
  case "$1" in
    ""|*[!0-9]*|0) echo "NGPUS=$1: give the number of processes per machine (>= 1)" >&2
                   launch_usage ;;
  esac
  local nprocs=$1
  shift
  cd "$(dirname "$0")/.."
  exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$nprocs" --master_port="${PORT:-29500}" \
    "$@" --launcher pytorch ${ARGS[@]+"${ARGS[@]}"}
}

# run_srun TOOL ARG...: TOOL with its ARGs, --launcher slurm and ARGS as GPUS Slurm tasks,
# GPUS_PER_NODE per node, in partition POS[0] under job name POS[1] (the slurm scripts' first
# two arguments); GRES, CPUS_PER_TASK, SRUN_ARGS and PYTHON from the environment.
run_srun() {
  local partition=${POS[0]} job_name=${POS[1]}
  local gpus_per_node=${GPUS_PER_NODE:-4}
  # GRES= (empty) on CPU-only partitions, which reject --gres=gpu:N.
  local gres=${GRES-gpu:$gpus_per_node}
  cd "$(dirname "$0")/.."
  # shellcheck disable=SC2086
  srun -p "$partition" --job-name="$job_name" ${gres:+--gres="$gres"} \
    --ntasks="${GPUS:-4}" --ntasks-per-node="$gpus_per_node" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$@" --launcher slurm ${ARGS[@]+"${ARGS[@]}"}
}
