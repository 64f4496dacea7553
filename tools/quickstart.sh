#!/usr/bin/env bash
# The demo main job: generate SynthCity, train the demo config on it, evaluate, print the table.
# Writes $WORK_DIR/iter_1000.pth (the checkpoint of the last iteration) and $WORK_DIR/metrics.json.
#   bash tools/quickstart.sh            (after `make install`; `make demo` does both)
# Environment: PYTHON, DATA (default data/synthcity), WORK_DIR, CONFIG, NUM_TRAIN, NUM_VAL, SEED.
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

# ETA: the demo config's 1000 iterations at the measured cost per iteration (README "Quick
# start"), plus generation and evaluation; the training log then prints MMEngine's own eta.
cores=$(nproc 2>/dev/null || echo 2)
echo "== expected duration: about 25 min on $cores free CPU cores at 1.2 s/iteration; 60-70 min" \
  "when other jobs share 2 cores (measured: README \"Quick start\"). The training log's" \
  "'eta:' gives the live estimate."
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
