"""`binauralgrad app`: a local page to hear a recording placed around the listener (Gradio)."""

from __future__ import annotations

from binauralgrad._lazy import lazy_exports

# Public name -> defining module, imported on first use: the shared functions need neither
# gradio nor torch to import; only `build_app` needs the `app` extra.
_EXPORTS = {
    **dict.fromkeys(("PathSettings", "command_line", "rows_for"), "binauralgrad.app.paths"),
    **dict.fromkeys(("MAX_SECONDS", "MODELS", "Rendering", "Results", "load_recording",
                     "render", "write_results", "top_view", "cue_figure"),
                    "binauralgrad.app.session"),
    "build_app": "binauralgrad.app.ui",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
