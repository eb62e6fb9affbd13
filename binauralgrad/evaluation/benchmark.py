"""The benchmark: synthesise a test set with a model and the DSP baseline, then score both."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from binauralgrad.dsp import geometric_warp
from binauralgrad.evaluation.folder import (
    REFERENCE_FILE,
    EvaluationResult,
    SequencePair,
    format_table,
    load_pair,
    write_json,
)
from binauralgrad.evaluation.metrics import compute_metrics, metric_names, weighted_mean
from binauralgrad.io.atomic import write_text
from binauralgrad.io.audio import read_wav, write_wav
from binauralgrad.io.positions import read_positions

# Output sub-folder -> row label of the table. "prior" is scored for models with a DSP prior,
# so that nobody mistakes the prior's gain over the warp for what the denoisers learnt; "head"
# for models whose prior has a learned head, so that its share of the gain shows apart from the
# denoisers'.
SYSTEMS = {"binauralgrad": "BinauralGrad", "head": "Learned head alone (no denoising)",
           "prior": "Prior alone (the model's DSP prior)", "dsp": "DSP (geometric warp)"}
RESULTS_JSON = "results.json"
RESULTS_TABLE = "results.md"
PLOTS = "plots"


@dataclass
class BenchmarkResult:
    """One EvaluationResult per system (keys of SYSTEMS), and how the audio was made."""

    systems: dict[str, EvaluationResult]
    settings: dict

    def to_dict(self) -> dict:
        """The JSON form: {"settings", "systems": {system: EvaluationResult.to_dict()}}."""
        systems = {name: result.to_dict() for name, result in self.systems.items()}
        return {"settings": self.settings, "systems": systems}

    def table(self) -> str:
        """The paper's table: one row per system, metrics averaged over sequences by length."""
        rows = {SYSTEMS[name]: result.overall for name, result in self.systems.items()}
        return format_table(rows, first_column="System")


def _sequence_folders(testset: Path) -> list[Path]:
    from binauralgrad.data.sequence import find_sequences

    folders = find_sequences(testset)
    for folder in folders:
        if not (folder / REFERENCE_FILE).is_file():
            raise FileNotFoundError(
                f"test sequence without ground truth: no {folder / REFERENCE_FILE}"
            )
    names = [folder.name for folder in folders]
    if len(set(names)) != len(names):
        raise ValueError(f"{testset}: sequence folder names repeat ({names})")
    return folders


def _outputs(output_dir: Path, names: list[str], plots: bool) -> list[Path]:
    from binauralgrad.evaluation.plots import plot_files

    figures = plot_files(output_dir / PLOTS, names) if plots else []
    return [output_dir / RESULTS_JSON, output_dir / RESULTS_TABLE, *figures]


def _target(output_dir: Path, system: str, folder: Path) -> Path:
    return output_dir / system / f"{folder.name}.wav"


def has_prior(pipeline) -> bool:
    """Whether a stage of the pipeline diffuses around a DSP prior (else `prior_alone` is 0)."""
    return any(not stage.config.diffuses_signal for stage in pipeline.stages)


def has_learned_head(pipeline) -> bool:
    """Whether a stage's prior has a learned head (`PriorConfig.head_taps`)."""
    return any(stage.config.prior.head_taps for stage in pipeline.stages)


def parts_alone(pipeline) -> list[tuple[str, bool]]:
    """The model's parts scored alone beside it, where it has them: (system, `learned` of
    `pipeline.prior_alone`) for its learned head, then its DSP prior."""
    has = {"head": has_learned_head(pipeline), "prior": has_prior(pipeline)}
    return [(system, learned) for system, learned in (("head", True), ("prior", False))
            if has[system]]


def _systems(pipeline) -> list[str]:
    """The systems scored for a pipeline: the model, its learned head and its prior alone if it
    has them, the warp."""
    alone = {system for system, _ in parts_alone(pipeline)}
    return [name for name in SYSTEMS if name in alone or name in ("binauralgrad", "dsp")]


def _synthesize_sequence(
    pipeline, folder: Path, output_dir: Path, *, seed: int, fast: bool, overwrite: bool
) -> None:
    """Writes `<output_dir>/<system>/<sequence>.wav` for every system unless present (resume)."""
    targets = {system: _target(output_dir, system, folder) for system in _systems(pipeline)}
    if not overwrite and all(path.exists() for path in targets.values()):
        return
    mono = read_wav(folder / "mono.wav", channels=1)[0]
    positions = read_positions(folder / "tx_positions.txt", num_samples=mono.shape[-1])
    if overwrite or not targets["dsp"].exists():
        rows = torch.from_numpy(np.ascontiguousarray(positions.T))[None]
        warped = geometric_warp(torch.from_numpy(mono)[None, None], rows)[0]
        write_wav(targets["dsp"], warped.numpy(), overwrite=overwrite)
    for system, learned in parts_alone(pipeline):
        if overwrite or not targets[system].exists():
            alone = pipeline.prior_alone(mono, positions, learned=learned)
            write_wav(targets[system], alone.cpu().float().numpy(), overwrite=overwrite)
    if overwrite or not targets["binauralgrad"].exists():
        generator = torch.Generator().manual_seed(seed)
        output = pipeline(mono, positions, generator=generator, steps="fast" if fast else "full",
                          progress=False)
        write_wav(targets["binauralgrad"], output.audio.cpu().numpy(), overwrite=overwrite)


def _score_sequence(index: int, folder: Path, output_dir: Path, protocol: str,
                    systems: list[str]) -> dict:
    scores = {}
    for system in systems:
        pair = SequencePair(
            folder.name, _target(output_dir, system, folder), folder / REFERENCE_FILE
        )
        prediction, reference = load_pair(pair)
        scores[system] = compute_metrics(prediction, reference, protocol=protocol)
    return {"index": index, "name": folder.name, "length": reference.shape[-1], "scores": scores}


def run_benchmark(
    model: str | os.PathLike,
    testset: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    seed: int = 0,
    fast: bool = True,
    dtype: torch.dtype = torch.float32,
    protocol: str = "paper",
    plots: bool = True,
    room: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BenchmarkResult | None:
    """Synthesises and scores every test sequence with the model and the DSP baseline.

    Writes `<output_dir>/binauralgrad/<sequence>.wav` and `dsp/<sequence>.wav` (kept when present,
    so an interrupted run resumes), then results.json, results.md and plots/*.png. Under
    `accelerate launch` each process synthesises and scores a share of the sequences on its
    device; the main process gathers the scores and writes the results.

    Args:
        model: pipeline folder or Hub repo id (`BinauralGradPipeline.from_pretrained`).
        testset: test set folder (sequence folders with mono.wav, tx_positions.txt, binaural.wav).
        output_dir: where the audio and results go.
        seed: sequence i (in test set order) samples from `torch.Generator().manual_seed(seed + i)`,
            so the audio does not depend on the number of processes.
        fast: the fast schedule with the pipeline's `fast_steps` (default) or all 200 steps.
        dtype: the model's precision. protocol: "paper" or "full".
        plots: write the figures. room: the pipeline's room to render (`pipe.room`; None: the
            one it was saved for). overwrite: re-synthesise everything and replace the results.
        progress: progress bars (main process only).

    Returns:
        The BenchmarkResult on the main process, None on the others.
    """
    from accelerate.utils import gather_object

    metric_names(protocol)  # validates before any work
    testset, output_dir = Path(testset), Path(output_dir)
    folders = _sequence_folders(testset)
    for path in _outputs(output_dir, [folder.name for folder in folders], plots):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists from an earlier run; pass --overwrite to redo it")
    state = _process_state()
    scores = []
    with state.split_between_processes(list(enumerate(folders))) as share:
        # Loaded before any work so that a wrong model fails at once.
        pipeline = _load_pipeline(model, state.device, dtype)
        if room is not None:
            pipeline.room = room
        systems = _systems(pipeline)
        main_bar = progress and state.is_main_process
        for index, folder in tqdm(share, desc="Benchmark", unit="sequence", disable=not main_bar):
            options = dict(seed=seed + index, fast=fast, overwrite=overwrite)
            _synthesize_sequence(pipeline, folder, output_dir, **options)
            scores.append(_score_sequence(index, folder, output_dir, protocol, systems))
    if state.num_processes > 1:
        scores = gather_object(scores)
    result = None
    if state.is_main_process:
        dtype_name = str(dtype).removeprefix("torch.")
        settings = dict(
            model=str(model), testset=str(testset), seed=seed, fast=fast, dtype=dtype_name,
            room=pipeline.room,
        )
        settings.update(protocol=protocol, num_processes=state.num_processes)
        result = _assemble(scores, settings, systems)
        _write_results(
            result, folders, output_dir, plots=plots, overwrite=overwrite, progress=progress
        )
    # No process leaves before the results exist (and none tears the group down under another).
    state.wait_for_everyone()
    return result


def _process_state():
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # Processes started by torchrun / `accelerate launch` on a host without a GPU only join one
    # group (gloo) when the state is told to use the CPU.
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or (
        world_size > 1 and not torch.cuda.is_available()
    )
    return PartialState(cpu=use_cpu)


def _load_pipeline(model, device: torch.device, dtype: torch.dtype):
    from binauralgrad.pipeline import BinauralGradPipeline

    return BinauralGradPipeline.from_pretrained(model, device=device, dtype=dtype)


def _assemble(scores: list[dict], settings: dict, names: list[str]) -> BenchmarkResult:
    scores = sorted(scores, key=lambda item: item["index"])
    lengths = {item["name"]: item["length"] for item in scores}
    systems = {}
    for system in names:
        sequences = {item["name"]: item["scores"][system] for item in scores}
        overall = weighted_mean(list(sequences.values()), list(lengths.values()))
        systems[system] = EvaluationResult(overall, sequences, lengths, settings["protocol"])
    return BenchmarkResult(systems, settings)


def _write_results(
    result: BenchmarkResult,
    folders: list[Path],
    output_dir: Path,
    *,
    plots: bool,
    overwrite: bool,
    progress: bool,
) -> None:
    write_json(output_dir / RESULTS_JSON, result.to_dict(), overwrite=overwrite)
    sections = [f"# Benchmark\n\n{result.table()}"]
    for system, evaluation in result.systems.items():
        rows = {**evaluation.sequences, "overall": evaluation.overall}
        sections.append(f"## {SYSTEMS[system]}\n\n{format_table(rows, first_column='Sequence')}")
    text = "\n\n".join(sections) + "\n"
    write_text(output_dir / RESULTS_TABLE, text, overwrite=overwrite)
    print(result.table())
    if plots:
        from binauralgrad.evaluation.plots import write_plots

        files = {
            folder.name: {
                "reference": folder / REFERENCE_FILE,
                **{SYSTEMS[s]: output_dir / s / f"{folder.name}.wav" for s in result.systems},
            }
            for folder in folders
        }
        results = {SYSTEMS[s]: evaluation.sequences for s, evaluation in result.systems.items()}
        write_plots(output_dir / PLOTS, files, results, overwrite=overwrite, progress=progress)
