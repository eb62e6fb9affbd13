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

import logging
import sys

from binauralgrad.training import NonFiniteLossError, parse_config, train


def main() -> int:
    config = parse_config()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        result = train(config)
    except NonFiniteLossError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    print(f"step {result.step}: {result.losses}; denoiser exported to {result.export_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
