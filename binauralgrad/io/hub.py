"""Finding model files in a local folder or a Hub repo, and loading weights strictly."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn


def resolve_file(path_or_repo_id: str | os.PathLike, filename: str, *, subfolder: str | None = None,
                 **download_kwargs) -> Path:
    """The path of `filename` in a local folder, or in a Hub repo through the cache.

    Args:
        path_or_repo_id: a local folder, or a repo id such as "user/binauralgrad-speech".
        filename: the file inside it (e.g. "config.json").
        subfolder: a folder inside the folder or repo (e.g. "stage_one").
        download_kwargs: passed to `hf_hub_download` (revision, cache_dir, token,
            local_files_only, force_download).

    Raises:
        FileNotFoundError: naming the folder or repo and the file.
    """
    local = Path(path_or_repo_id)
    if local.is_dir():
        path = local / subfolder / filename if subfolder else local / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (is {local} a binauralgrad model folder?)")
        return path
    try:
        validate_repo_id(str(path_or_repo_id))
    except HFValidationError:
        raise FileNotFoundError(f"no such model folder: {path_or_repo_id}") from None
    try:
        return Path(hf_hub_download(str(path_or_repo_id), filename, subfolder=subfolder,
                                    **download_kwargs))
    except (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError) as error:
        where = f"{subfolder}/{filename}" if subfolder else filename
        raise FileNotFoundError(
            f"could not get {where} from {path_or_repo_id!r}: no such local folder, and the Hub "
            f"repo or its cached copy is not available ({type(error).__name__})"
        ) from error


def load_state_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Copies `state_dict` into `module`, refusing any missing, unexpected or mis-shaped weight.

    Raises:
        ValueError: listing every problem, so a foreign or truncated checkpoint is named as such.
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [f"{key}: {tuple(state_dict[key].shape)} vs model {tuple(value.shape)}"
                  for key, value in expected.items()
                  if key in state_dict and state_dict[key].shape != value.shape]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected),
                        ("wrong shape", mismatched)):
        if keys:
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ValueError(f"{source} does not fit this model: " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def load_safetensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Reads a safetensors file, turning a truncated or foreign file into a clear error."""
    device = torch.device(device)
    # safetensors takes "cpu" but not "cpu:0", which multi-process CPU runs report.
    target = "cpu" if device.type == "cpu" else str(device)
    try:
        return load_file(str(path), device=target)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} is not a readable safetensors file ({error})") from error
