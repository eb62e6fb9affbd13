#!/usr/bin/env bash
# Retrains the small pipeline embedded in the package (binauralgrad/default_model/): both stages of
# the "small" size (12 layers, 32 channels) on simulated data, on a CPU (about 15 minutes per stage
# on 2 cores). It is a demonstration model: far from the paper's, which trains 30x128 models on
# the real recordings for hundreds of thousands of steps.
set -euo pipefail
work=${1:-runs/default_model}
binauralgrad make-synthetic "$work/data" --train-minutes 6 --test-minutes 1 --sequences 8 --seed 7
for stage in 1 2; do
  OMP_NUM_THREADS=1 python examples/train.py --stage "$stage" --data-dir "$work/data/trainset" \
      --output-dir "$work/stage$stage" --model-config small --batch-size 4 --clip-length 12000 \
      --learning-rate 1e-3 --max-steps 1000 --checkpoint-every 250 --num-workers 0 --no-progress &
done
wait
binauralgrad assemble --stage-one "$work/stage1/denoiser" --stage-two "$work/stage2/denoiser" \
    --output "$work/pipeline" --overwrite
echo "copy $work/pipeline to binauralgrad/default_model/ to embed it"
