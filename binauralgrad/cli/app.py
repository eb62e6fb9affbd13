"""`binauralgrad app`: a local web page to hear a recording placed around the listener."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from binauralgrad.constants import APP_MAX_SECONDS

EXTRA = 'pip install -e ".[app]" (from a clone; or pip install "binauralgrad[app]")'


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app", help="serve a local web page to hear your recordings placed around you (needs "
                    "the app extra)",
        description="Serve a local page (Gradio) to upload or record a clip, place the talker "
                    "and compare the binaural output with the DSP baseline and the mono input. "
                    f"Needs the optional extra: {EXTRA}. Runs offline, with Gradio's analytics "
                    "off; everything it writes goes to a temporary folder removed on exit.")
    parser.add_argument("--model", help="a pipeline folder or Hub repo id offered first (default: "
                                        "the embedded default and live models)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default %(default)s: this machine only)")
    parser.add_argument("--port", type=int,
                        help="port to serve on (default: the first free one from 7860)")
    parser.add_argument("--max-seconds", type=float, default=APP_MAX_SECONDS, metavar="S",
                        help="longest recording the page takes (default %(default)g, a minute "
                             "or two of synthesis on a CPU; longer ones get the command line)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:1, ... (default %(default)s)")
    parser.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> int:
    if args.max_seconds <= 0:
        raise ValueError(f"--max-seconds must be > 0, got {args.max_seconds}")
    with tempfile.TemporaryDirectory(prefix="binauralgrad-app-") as workspace:
        # Gradio reads these when it is first imported: its uploads and copies go under the
        # same temporary folder, and no telemetry or version check leaves the machine.
        os.environ["GRADIO_TEMP_DIR"] = str(Path(workspace) / "gradio")
        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        try:
            from binauralgrad.app.ui import build_app, serve
        except ImportError as error:
            raise ValueError(f"the app needs the optional extra 'app' ({error}): {EXTRA}") \
                from None
        from binauralgrad.app.session import MODELS, load_pipeline

        models = dict(MODELS)
        if args.model:  # a folder or repo that does not load fails now, not on the page
            load_pipeline(args.model, device=args.device)
            models = {args.model: args.model, **models}
        demo = build_app(models=models, workspace=workspace, max_seconds=args.max_seconds,
                         device=args.device)
        url = serve(demo, host=args.host, port=args.port, workspace=workspace)
        print(f"binauralgrad app: serving {url} (Ctrl+C stops it)", flush=True)
        # A `kill` ends the process through the same clean-up as Ctrl+C: the folder goes too.
        previous = signal.signal(signal.SIGTERM, _stop_on_signal)
        try:
            demo.block_thread()
        finally:
            signal.signal(signal.SIGTERM, previous)
            demo.close()
    print("binauralgrad app: stopped; its temporary files are removed", file=sys.stderr)
    return 0


def _stop_on_signal(signum, frame) -> None:
    raise KeyboardInterrupt  # Gradio's wait ends on it as on Ctrl+C
