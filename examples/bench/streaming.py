"""The benchmark's streaming section: latency, RTF and the slowest push per model and block."""

from __future__ import annotations

import torch
from common import pipeline_of, synthesize, test_signal

from binauralgrad import BinauralGradPipeline
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.inference.backends import cpu_bf16_supported

STREAM_BLOCKS_MS = (10, 20, 50)


def stream_models(names, seconds: float, paper_seconds: float, device: str) -> list[tuple]:
    """(name, pipeline, dtype, audio seconds, overlap) per streamed model: "default" and "live"
    (the embedded models, float32 with the stages in turn and overlapped on a CPU, and bfloat16
    where native), "paper" and "tiny" (random weights); None: the stream decides."""
    from binauralgrad.constants import DEFAULT_MODEL_DIR, LIVE_MODEL_DIR

    models = []
    for name, folder in (("default", DEFAULT_MODEL_DIR), ("live", LIVE_MODEL_DIR)):
        if name in names:
            embedded = BinauralGradPipeline.from_pretrained(folder, device=device)
            models.append((f"embedded {name}", embedded, torch.float32, seconds, False))
            if device == "cpu":
                models.append((f"embedded {name}", embedded, torch.float32, seconds, True))
            if device == "cuda" or cpu_bf16_supported():
                models.append((f"embedded {name}", embedded, torch.bfloat16, seconds, None))
    if "paper" in names:
        models.append(("paper size", pipeline_of("paper", device), torch.float32, paper_seconds,
                       None))
    if "tiny" in names:
        models.append(("tiny size", pipeline_of("tiny", device), torch.float32, seconds, None))
    return models


def stream_rows(seconds: float, paper_seconds: float, device: str = "cpu",
                blocks_ms=STREAM_BLOCKS_MS, names=("default", "live", "paper", "tiny")
                ) -> list[dict]:
    """The stream (`pipe.stream()`) per model and block size: its algorithmic latency, RTF
    (compute seconds per audio second, flush included) and slowest push, with blocks fed as
    fast as it takes them. Its output is checked against the offline pipeline's."""
    from binauralgrad.evaluation.speed import run_stream

    models = stream_models(names, seconds, paper_seconds, device)
    rows = []
    for name, pipeline, dtype, length, overlap in models:
        mono, positions = test_signal(length)
        reference = synthesize(pipeline, mono, positions, dtype=dtype).float().cpu()
        for block_ms in blocks_ms:
            run = run_stream(pipeline, mono, positions, round(block_ms * SAMPLE_RATE / 1000),
                             generator=torch.Generator().manual_seed(0), dtype=dtype,
                             overlap=overlap)
            rows.append({"model": name, "dtype": str(dtype).split(".")[-1], "device": device,
                         "stages": "overlapped" if run.overlap else "in turn",
                         **run.summary(),
                         "max_dev": (run.audio - reference).abs().max().item()})
    return rows


def print_stream(rows: list[dict]) -> None:
    print("\nStreaming (blocks pushed as fast as the stream takes them; real time: RTF below 1 and"
          " 95 % of pushes ready before the next block; overlapped stages return a push later)\n"
          "| model | dtype | device | stages | latency ms | block ms | RTF | push p95 / worst ms |"
          " on time | real time | max dev vs offline |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['model']} | {row['dtype']} | {row['device']} | {row['stages']} | "
              f"{row['latency_ms']:.1f} | "
              f"{row['block_ms']:g} | {row['rtf']:.2f} | {row['p95_block_ms']:.1f} / "
              f"{row['worst_block_ms']:.1f} | {100 * row['on_time_share']:.0f} % | "
              f"{'yes' if row['real_time'] else 'no'} | {row['max_dev']:.1e} |")
