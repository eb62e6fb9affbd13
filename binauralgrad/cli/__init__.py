"""The `binauralgrad` command: one subcommand module per area, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module adds its subcommands with `register(subparsers)`; a subcommand stores its handler
# as `func(args) -> int` in the parsed namespace.
_COMMAND_MODULES = (
    "binauralgrad.cli.synthesize",
    "binauralgrad.cli.convert",
    "binauralgrad.cli.data",
    "binauralgrad.cli.evaluate",
    "binauralgrad.cli.train",
    "binauralgrad.cli.demo",
    "binauralgrad.cli.app",
)


def build_parser() -> argparse.ArgumentParser:
    from binauralgrad import __version__

    parser = argparse.ArgumentParser(
        prog="binauralgrad", description="Mono-to-binaural speech synthesis with BinauralGrad."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        # User errors get one clear line, not a traceback.
        print(f"binauralgrad {args.command}: error: {error}", file=sys.stderr)
        return 2
