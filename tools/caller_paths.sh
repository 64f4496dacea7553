# Sourced by tools/{dist,slurm}_{train,test}.sh: paths given relative to the caller's directory
# stay relative to it, although the scripts run from the repository root (where the configs'
# relative data_root points).

# A path made absolute against the caller's directory.
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
