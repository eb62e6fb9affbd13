"""Train one BinauralGrad stage: `accelerate launch examples/train.py --stage 1 --data-dir ...`.

    accelerate launch --config_file accelerate_configs/single_gpu.yaml examples/train.py \
        --stage 1 --data-dir data/trainset --output-dir runs/stage_one
    accelerate launch --config_file accelerate_configs/single_gpu.yaml examples/train.py \
        --stage 2 --data-dir data/trainset --output-dir runs/stage_two
    binauralgrad assemble --stage-one runs/stage_one/denoiser \
        --stage-two runs/stage_two/denoiser --output runs/pipeline

Add `--resume latest` to continue an interrupted run; `python examples/train.py --help` lists
every option (the paper's recipe is the default).
"""

import sys

from binauralgrad.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
