#!/usr/bin/env bash
# One-command GPU check (tools/analysis_tools/gpu_check.py; docs/distributed.md, "GPU check"):
#   bash tools/analysis_tools/gpu_check.sh [--work-dir DIR] [--json FILE] [gpu_check.py args...]
# Run from anywhere; PYTHON selects the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" tools/analysis_tools/gpu_check.py "$@"
