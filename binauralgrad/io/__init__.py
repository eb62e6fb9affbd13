"""Files: audio, tracking rows, atomic writes, Hub resolution, model cards, original checkpoints."""

from __future__ import annotations

from binauralgrad._lazy import lazy_exports

# Public name -> defining module, imported on first use: `binauralgrad.io.atomic` (used by the
# training config) loads neither soundfile nor torch.
_EXPORTS = {
    "OUTPUT_FORMATS": "binauralgrad.io.audio",
    "audio_info": "binauralgrad.io.audio",
    "limit_peak": "binauralgrad.io.audio",
    "read_mono": "binauralgrad.io.audio",
    "read_wav": "binauralgrad.io.audio",
    "resample": "binauralgrad.io.audio",
    "write_audio": "binauralgrad.io.audio",
    "write_wav": "binauralgrad.io.audio",
    "read_positions": "binauralgrad.io.positions",
    "write_positions": "binauralgrad.io.positions",
    "atomic_folder": "binauralgrad.io.atomic",
    "atomic_write": "binauralgrad.io.atomic",
    "convert_original": "binauralgrad.io.original",
    "load_original_denoiser": "binauralgrad.io.original",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
