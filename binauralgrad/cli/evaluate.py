"""Subcommands of `binauralgrad` for the evaluate area."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds this area's subcommands (none yet)."""
