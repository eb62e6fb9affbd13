"""How a stream uses the cores: one thread a push, and stage one in a process of its own.

Stage two reads stage one's output, so in one push the stages run one after the other. Where
stage two reads only what stage one finished by the push before, the two can run at once, and
the stream returns its samples one push later. A push's operations are small, so most of its
time is Python's, under the interpreter's one lock: two threads of one process ran a live push
each in 25 ms where one alone took 9.6 (2-core AMD EPYC). Two processes run side by side.

The worker (`python -m binauralgrad.inference.overlap`) gets the stream's pushes and sends stage
one's new samples back; the stream keeps what stage two reads (`StageProcess.output`). The
worker builds its own inputs and stage from the same weights and noise, so the samples are the
ones stage one would compute in the stream's own process. The two talk over a local
connection that only holders of a fresh random key can open (multiprocessing's `Listener`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import AuthenticationError, spawn
from multiprocessing.connection import Client, Listener
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from binauralgrad.inference.buffers import SampleBuffer
from binauralgrad.inference.folded import FoldedDenoiser
from binauralgrad.inference.noise import PositionalNoise
from binauralgrad.inference.sources import StreamInputs
from binauralgrad.inference.wavefront import StageStream
from binauralgrad.models.config import DenoiserConfig
from binauralgrad.models.denoiser import BinauralDenoiser

START_TIMEOUT_S = 120.0  # importing torch on a slow, busy machine takes seconds
AUTHKEY_BYTES = 32
WORKER_ENDED = "the stream's stage one process has ended"


class WorkerNotStarted(RuntimeError):
    """The worker process could not be started (or did not connect in START_TIMEOUT_S)."""


@contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """Runs the block on one CPU thread (torch's intra-op threads of this thread, then back).

    A push's operations are small: split between two threads, each pays for the threads'
    meeting, and on a shared host the second core is often busy, so the push waits for it. On a
    2-core AMD EPYC guest the live model's 10 ms pushes took 8.7-9.1 ms on one thread and 7.9-11.6
    ms on two (72-103 ms while other work ran beside them); the default's 20 ms pushes took 13 or
    23 ms on two threads, from spell to spell. A layer's bits do not depend on the thread count
    (`Workspace.gate_rows`), so the output is still the offline output.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class StageProcess:
    """Stage one of a stream, run by a worker process (see the module's text).

    It has what `StageStream(mean=...)` reads of stage one (`ready`, `output`) and what the
    stream drives: `start_push` / `finish_push` around stage two's tick, `tick` (catching up),
    `end`, `close`.

    Args:
        denoiser: stage one's `BinauralDenoiser` (its weights go to the worker).
        configs: both stages' DenoiserConfigs (the inputs' terms). steps: the reverse steps.
        tile, cache, temperature, noise_seed, max_skew_frames: as the stream's stage one.
        dtype, backend: the folded denoiser's (`FoldedDenoiser`).
    """

    def __init__(self, denoiser, configs, steps, *, tile: int, cache: bool, temperature: float,
                 noise_seed: int, max_skew_frames: int, dtype: torch.dtype, backend: str):
        self.output = SampleBuffer(1, denoiser.config.out_channels, torch.empty(0))
        self.capped = False
        self._connection, self._process = _start_worker()
        self._closer = weakref.finalize(self, _stop, self._connection, self._process)
        state = {name: tensor.detach().cpu().contiguous()
                 for name, tensor in denoiser.state_dict().items()}
        try:
            self._send("start", {
                "config": denoiser.config.to_dict(), "weights": save_tensors(state),
                "configs": [config.to_dict() for config in configs], "steps": steps,
                "tile": tile, "cache": cache, "temperature": temperature,
                "noise_seed": noise_seed, "max_skew_frames": max_skew_frames, "dtype": dtype,
                "backend": backend, "threads": torch.get_num_threads()})
            self._receive()
        except BaseException:
            self.close()
            raise

    @property
    def ready(self) -> int:
        """Samples of stage one's output received."""
        return self.output.end

    def state_bytes(self) -> int:
        """Bytes of the tensors stage one holds, here and in the worker (while it runs)."""
        if not self._closer.alive:
            return self.output.nbytes
        self._send("held")
        return self.output.nbytes + self._receive()

    def start_push(self, block: torch.Tensor, rows: torch.Tensor, budget: int) -> None:
        """Sends a push (`StreamInputs.checked`); stage one ticks once, advancing each layer by
        at most `budget`, while the caller runs stage two."""
        self._send("push", block.numpy(), rows.numpy(), budget)

    def finish_push(self) -> bool:
        """Waits for the push's tick; its samples join `output`. Returns whether it moved."""
        return self._ticked()

    def tick(self) -> bool:
        """A greedy tick of stage one (catching up); returns whether anything moved."""
        self._send("tick")
        return self._ticked()

    def end(self) -> None:
        """The input has ended (`StreamInputs.end` in the worker)."""
        self._send("end")
        self._receive()

    def close(self) -> None:
        """Ends the worker (waits for it to exit)."""
        self._closer()

    def _ticked(self) -> bool:
        moved, self.capped, samples = self._receive()
        if len(samples):
            self.output.append(torch.from_numpy(samples)[None])
        return moved

    def _send(self, *message) -> None:
        try:
            self._connection.send(message)
        except (OSError, EOFError) as error:
            raise RuntimeError(WORKER_ENDED) from error

    def _receive(self):
        try:
            failed, answer = self._connection.recv()
        except (OSError, EOFError) as error:
            raise RuntimeError(WORKER_ENDED) from error
        if failed:
            raise RuntimeError(f"stage one's process failed:\n{answer}")
        return answer


def _start_worker():
    """Starts the worker and connects to it, with a fresh key that only it is given."""
    authkey = os.urandom(AUTHKEY_BYTES)
    listener = Listener(authkey=authkey)
    # The worker imports this very package, wherever it was found (a checkout on sys.path).
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    # multiprocessing's interpreter: sys.executable unless an application embedding Python set
    # another (`multiprocessing.set_executable`).
    command = [os.fsdecode(spawn.get_executable()), "-m", __name__, str(listener.address)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept())
                return
            except AuthenticationError:  # not the worker: wait for it
                continue
            except OSError:  # closed below: the worker did not start
                return

    waiter = threading.Thread(target=accept, daemon=True)
    waiter.start()
    process.stdin.write(authkey)  # not on the command line: other users can read that
    process.stdin.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while waiter.is_alive() and process.poll() is None and time.monotonic() < deadline:
        waiter.join(0.05)
    listener.close()
    if not accepted:
        process.kill()
        raise WorkerNotStarted(f"the stream's stage one process did not start (exit status "
                               f"{process.wait()}); overlap=False runs the stages in turn")
    return accepted[0], process


def _stop(connection, process) -> None:
    try:
        connection.send(("close",))
    except (OSError, EOFError):
        pass
    connection.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Worker:
    """The worker's side: stage one of one stream, on one thread."""

    def __init__(self, setup: dict):
        denoiser = BinauralDenoiser(DenoiserConfig.from_dict(setup["config"]))
        denoiser.load_state_dict(load_tensors(setup["weights"]))
        model = FoldedDenoiser(denoiser.eval(), dtype=setup["dtype"], backend=setup["backend"])
        configs = [DenoiserConfig.from_dict(config) for config in setup["configs"]]
        self.inputs = StreamInputs(configs, device=torch.device("cpu"),
                                   max_skew_frames=setup["max_skew_frames"])
        self.stage = StageStream(model, 1, setup["steps"], self.inputs,
                                 PositionalNoise(setup["noise_seed"]), setup["tile"],
                                 cache=setup["cache"], initial_scale=setup["temperature"])
        self.sent = 0
        # Catching up and the flush: the stream waits meanwhile, so its threads are free.
        torch.set_num_threads(setup["threads"])

    def push(self, block: np.ndarray, rows: np.ndarray, budget: int) -> tuple:
        self.stage.budget = budget
        try:
            with one_thread(self.inputs.device):  # as the stream's own pushes
                self.inputs.add(torch.from_numpy(block), torch.from_numpy(rows))  # checked
                return self._ticked(self.stage.tick())
        finally:
            self.stage.budget = None

    def tick(self) -> tuple:
        return self._ticked(self.stage.tick())

    def end(self) -> None:
        self.inputs.end()

    def held(self) -> int:
        return self.stage.state_bytes() + self.inputs.state_bytes()

    def _ticked(self, moved: bool) -> tuple:
        """(moved, capped, stage one's samples since the last tick); forgets what is sent."""
        stage, ready = self.stage, self.stage.ready
        samples = stage.output.rows(self.sent, ready)[0].numpy().copy()
        self.sent = ready
        stage.output.trim(ready)
        self.inputs.trim(stage.oldest_needed())
        return moved, stage.capped, samples


def main() -> None:
    """The worker: connects to the stream, then answers its calls until it closes."""
    authkey = sys.stdin.buffer.read(AUTHKEY_BYTES)
    with Client(sys.argv[1], authkey=authkey) as connection, torch.inference_mode():
        while True:
            try:
                name, *arguments = connection.recv()
            except EOFError:  # the stream's process has gone
                return
            if name == "close":
                return
            try:
                if name == "start":
                    worker, answer = _Worker(*arguments), None
                else:
                    answer = getattr(worker, name)(*arguments)
                connection.send((False, answer))
            except Exception:  # noqa: BLE001 - the stream raises it, with this traceback
                connection.send((True, traceback.format_exc()))


if __name__ == "__main__":
    main()
    sys.stderr.flush()
    # Without the interpreter's teardown, as multiprocessing's workers end: with torch loaded it
    # took half a second, and `flush` waits for the worker to end.
    os._exit(0)
