#!/usr/bin/env bash
# The demo main job: generate SynthCity, train the demo config on it, evaluate, print the table.
# Writes $WORK_DIR/iter_1000.pth (the checkpoint of the last iteration) and $WORK_DIR/metrics.json.
#   bash tools/quickstart.sh            (after `make install`; `make demo` does both)
# Environment: PYTHON, DATA (default data/synthcity), WORK_DIR, CONFIG, NUM_TRAIN, NUM_VAL, SEED,
# OMP_NUM_THREADS (default 1).
# Duration: see README "Quick start" (measured times, with the machine and load).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-data/synthcity}
CONFIG=${CONFIG:-configs/ccam/ccam_r18_synthcity.py}
WORK_DIR=${WORK_DIR:-work_dirs/$(basename "$CONFIG" .py)}
NUM_TRAIN=${NUM_TRAIN:-200}
NUM_VAL=${NUM_VAL:-50}
SEED=${SEED:-0}

# One torch thread unless the caller says otherwise: on 2 cores shared with other jobs a training
# iteration took 0.92-0.99 s with one thread and 5.3-7.8 s with two (README "Quick start"), and the
# shipped checkpoint was trained with one (same thread count, same floating-point sums).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# ETA: 1000 iterations at the measured ~1 s each, plus generation (~1 min), 4 validations and the
# test (~30 s each); the training log then prints MMEngine's own eta every 50 iterations.
echo "== expected duration: about 20 min on 2 CPU cores shared with other jobs (~1 s per" \
  "training iteration at OMP_NUM_THREADS=$OMP_NUM_THREADS; README \"Quick start\"); the" \
  "training log's 'eta:' is the live estimate."
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
