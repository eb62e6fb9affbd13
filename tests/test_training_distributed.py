"""Two CPU processes (gloo) under `accelerate launch` train exactly like one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("accelerate")
pytest.importorskip("datasets")

# Runs one training under whatever launcher started it, then records what each rank saw.
WORKER = textwrap.dedent('''
    import json, sys
    import torch
    from safetensors.torch import save_file
    from binauralgrad.training import Trainer, parse_config

    trainer = Trainer(parse_config(sys.argv[1:]))
    initialized = torch.distributed.is_initialized()  # run() ends the process group
    backend = torch.distributed.get_backend() if initialized else None
    result = trainer.run()
    rank = trainer.accelerator.process_index
    folder = trainer.output_dir
    state = {k: v.contiguous() for k, v in trainer.unwrapped.state_dict().items()}
    save_file(state, str(folder / f"rank{rank}.safetensors"))
    info = {"rank": rank, "world": trainer.accelerator.num_processes, "step": result.step,
            "backend": backend}
    (folder / f"rank{rank}.json").write_text(json.dumps(info))
''')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _options(data_dir: Path, output_dir: Path) -> list[str]:
    return ["--stage", "2", "--data-dir", str(data_dir), "--output-dir", str(output_dir),
            "--model-config", "tiny", "--max-steps", "3", "--batch-size", "2",
            "--clip-length", "4000", "--chunk-length", "8000", "--hop-length", "4000",
            "--log-every", "1", "--num-workers", "0", "--no-progress", "--seed", "5",
            # A learned head: its weights get their gradient from a loss on the prior, outside
            # the wrapped model's forward; DDP must still average it.
            "--prior", "attenuated_warp", "--prior-gain", "0.4", "--prior-head-taps", "12"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from binauralgrad.data.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic_dataset(root, train_minutes=0.05, test_minutes=0.05, sequences=1, seed=1,
                           progress=False)
    return root / "trainset"


def _launch(worker: Path, options: list[str], processes: int) -> None:
    # `accelerate launch --cpu --num_processes 2` starts a single process; `--multi_gpu` with
    # ACCELERATE_USE_CPU=1 starts real ranks on the gloo backend.
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "--num_processes", str(processes)]
    command += ["--multi_gpu"] if processes > 1 else ["--cpu"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(command + [str(worker), *options], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_match_one(dataset_dir, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    _launch(worker, _options(dataset_dir, tmp_path / "two"), processes=2)
    _launch(worker, _options(dataset_dir, tmp_path / "one"), processes=1)

    infos = [json.loads((tmp_path / "two" / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [(info["rank"], info["world"], info["step"]) for info in infos] == [(0, 2, 3), (1, 2, 3)]
    assert infos[0]["backend"] == "gloo"
    ranks = [load_file(tmp_path / "two" / f"rank{rank}.safetensors") for rank in (0, 1)]
    single = load_file(tmp_path / "one" / "rank0.safetensors")
    for name, value in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # DDP keeps ranks identical
        assert torch.allclose(ranks[0][name], value, rtol=1e-5, atol=1e-6), name
    # The logged terms and gradient norms agree too, so the gradients (not only Adam's
    # scale-free steps) are the one-process ones.
    logs = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").open()]
            for run in ("one", "two")]
    for alone, shared in zip(*logs, strict=True):
        for key in ("train/loss", "train/mse_main", "train/mse_aux", "train/phase_aux",
                    "train/head_fit", "train/grad_norm"):
            assert shared[key] == pytest.approx(alone[key], rel=1e-5), (alone["step"], key)
