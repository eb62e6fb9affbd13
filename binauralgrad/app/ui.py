"""The Gradio page: controls and players over `app.session` and `app.paths` (needs the extra)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gradio as gr

from binauralgrad.app.paths import PREVIEW_S, PathSettings, command_line, rows_for
from binauralgrad.app.session import (
    MAX_SECONDS,
    MODELS,
    channel_choices,
    load_pipeline,
    load_recording,
    new_folder,
    parse_channel,
    render,
    top_view,
    write_results,
)
from binauralgrad.constants import SAMPLE_RATE
from binauralgrad.positions.paths import DIRECTIONS

USER_ERRORS = (ValueError, FileNotFoundError)  # shown in the page; anything else is a bug
INTRO = """# BinauralGrad: hear your voice placed around you
Upload or record a mono clip, say where the talker is, and synthesise. **Use headphones**: the
left and right channels are the listener's two ears."""
# System fonts: no font files to fetch, and no mix of a bundled face with a fallback.
SYSTEM_FONTS = (["ui-sans-serif", "system-ui", "Helvetica", "Arial", "sans-serif"],
                ["ui-monospace", "Menlo", "Consolas", "monospace"])
CHANNEL_QUESTION = ("This recording has several channels, and the model takes one voice: pick "
                    "a channel or downmix")
PATH_KINDS = [("Standing", "standing"), ("Walking a circle", "circle"),
              ("Walking a line", "line"), ("Positions file", "file")]


@dataclass
class Page:
    """What the handlers need besides the controls: models, limits and the results' folder."""

    models: dict[str, str]
    workspace: Path
    max_seconds: float
    device: str = "cpu"
    pipelines: dict = field(default_factory=dict)

    def pipeline(self, name: str):
        """The named model, loaded on first use and kept for this page."""
        if name not in self.pipelines:
            self.pipelines[name] = load_pipeline(self.models[name], device=self.device)
        return self.pipelines[name]


def settings_from(kind, azimuth, elevation, distance, radius, period, direction,
                  start_x, start_y, end_x, end_y, speed, file) -> PathSettings:
    """PathSettings from the path controls' values, in `path_controls`' order."""
    return PathSettings(kind=kind, azimuth_deg=azimuth, elevation_deg=elevation,
                        distance_m=distance, radius_m=radius, period_s=period,
                        direction=direction, start=(start_x, start_y), end=(end_x, end_y),
                        speed_m_s=speed or None, file=file)


def _duration_s(recording: str) -> float:
    from binauralgrad.io.audio import audio_info

    info = audio_info(recording)
    return info.frames / info.samplerate if info.frames > 0 else PREVIEW_S


def redraw(recording, *path_values):
    """The top view over the recording's length (or PREVIEW_S), and what is wrong, if anything."""
    problems, seconds = [], PREVIEW_S
    if recording:
        try:
            seconds = _duration_s(recording)
        except USER_ERRORS as error:
            problems.append(_problem(error, "This recording does not work:", recording))
    try:
        settings = settings_from(*path_values)
        rows = rows_for(settings, round(seconds * SAMPLE_RATE))
    except USER_ERRORS as error:
        problems.append(_problem(error, "This path does not work:", path_values[-1]))
        return None, "\n\n".join(problems)
    return top_view(rows, title=settings.summary()), "\n\n".join(problems)


def on_recording(recording):
    """A new recording: the channel choice, shown only for a multichannel file."""
    try:
        choices = channel_choices(recording) if recording else []
    except USER_ERRORS:  # `redraw` says what is wrong with it
        choices = []
    return gr.update(choices=choices, value=None, visible=bool(choices))


def _problem(error: Exception, heading: str, *uploads: str | None) -> str:
    """An error for the page: uploads named by their own names, not Gradio's copies' paths."""
    message = str(error)
    for upload in filter(None, uploads):
        message = message.replace(str(upload), Path(upload).name)
    return f"**{heading}**\n\n```\n{message}\n```"


def synthesise(page: Page, recording, channel, model, seed, kind, azimuth, elevation, distance,
               radius, period, direction, start_x, start_y, end_x, end_y, speed, file,
               progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio looks for it there)
    """The button: the three players, the downloads, the figure, a status and the command line.

    Every input is a named parameter: Gradio hands its progress tracker (which also follows the
    pipeline's tqdm bar) only to a `progress` it finds among them, not after a `*args`.
    """
    path_values = (kind, azimuth, elevation, distance, radius, period, direction, start_x,
                   start_y, end_x, end_y, speed, file)
    return _synthesise(page, recording, channel, model, seed, path_values, progress)


def _synthesise(page: Page, recording, channel, model, seed, path_values, progress):
    if not recording:
        return (None,) * 5 + ("Upload or record a clip first.", "")
    command, seed = "", int(seed or 0)
    try:
        settings = settings_from(*path_values)
        channel_number, downmix = parse_channel(channel)
        command = command_line(recording, settings, model=_model_option(page, model), seed=seed,
                               channel=channel_number, downmix=downmix)
        progress(0, desc="reading the recording")
        mono, _ = load_recording(recording, channel=channel_number, downmix=downmix,
                                 max_seconds=page.max_seconds, command=command)
        rows = rows_for(settings, len(mono))
        progress(0.05, desc="loading the model")
        rendering = render(page.pipeline(model), mono, rows, seed=seed)
        progress(0.95, desc="writing the files")
        results = write_results(rendering, new_folder(page.workspace), name=Path(recording).stem,
                                title=f"{Path(recording).name}: {settings.summary()}")
    except USER_ERRORS as error:
        return (None,) * 5 + (_problem(error, "Could not synthesise:", recording,
                                       path_values[-1]), command)
    level = (f" Scaled by {results.gain_db:.1f} dB so that it does not clip."
             if results.gain_db < 0 else "")
    status = (f"Done: {len(mono) / SAMPLE_RATE:.2f} s, {settings.summary()}, model {model}, "
              f"seed {seed}.{level}")
    figure = None if results.figure is None else str(results.figure)
    return (str(results.binaural), str(results.baseline), str(results.mono),
            [str(results.binaural), str(results.positions)], figure, status, command)


def _model_option(page: Page, model: str) -> str | None:
    """The --model the command line needs for this choice (None: its default)."""
    folder = page.models[model]
    return None if Path(folder) == MODELS["default"] else str(folder)


def path_controls() -> list:
    """The path controls, in `settings_from`'s order, each kind's in its own group."""
    defaults = PathSettings()
    kind = gr.Radio(PATH_KINDS, value=defaults.kind, label="Where the talker is", elem_id="kind")
    with gr.Group(visible=False) as standing:
        values = [gr.Slider(-180, 180, defaults.azimuth_deg, step=1, label="Azimuth (deg): 0 "
                            "ahead, 90 right, -90 left", elem_id="azimuth"),
                  gr.Slider(-90, 90, defaults.elevation_deg, step=1, label="Elevation (deg)"),
                  gr.Slider(0.2, 5, defaults.distance_m, step=0.1, label="Distance (m)")]
    with gr.Group() as circle:
        values += [gr.Slider(0.2, 5, defaults.radius_m, step=0.1, label="Radius (m)",
                             elem_id="radius"),
                   gr.Number(defaults.period_s, label="Seconds per lap", minimum=0.1,
                             step=0.5, elem_id="period"),
                   gr.Radio(list(DIRECTIONS), value=defaults.direction,
                            label="Direction (seen from above; clockwise: ahead, then right)")]
    with gr.Group(visible=False) as line, gr.Row():
        values += [gr.Number(value, label=label) for value, label in zip(
            (*defaults.start, *defaults.end), ("From x (m, ahead)", "From y (m, right)",
                                               "To x (m)", "To y (m)"), strict=True)]
        values.append(gr.Number(0, label="Speed (m/s; 0: the walk spans the clip)", minimum=0))
    with gr.Group(visible=False) as upload:
        values.append(gr.File(file_types=[".txt", ".json"], type="filepath",
                              label="Tracking rows (.txt, x y z qx qy qz qw at 120 Hz) or a path "
                                    "description (.json)"))
    groups = {"standing": standing, "circle": circle, "line": line, "file": upload}
    kind.change(lambda chosen: [gr.update(visible=name == chosen) for name in groups], kind,
                list(groups.values()), queue=False)
    return [kind, *values]


def output_players() -> list:
    """The players and the downloads, in `synthesise`'s order."""
    gr.Markdown("**Use headphones** to hear where the talker is.")
    players = [gr.Audio(label=label, interactive=False, buttons=["download"], elem_id=elem_id)
               for label, elem_id in (("Binaural output (BinauralGrad)", "binaural"),
                                      ("DSP baseline (geometric warp)", "baseline"),
                                      ("Mono input (48 kHz)", "mono"))]
    return [*players, gr.File(label="Downloads: the binaural file and the positions used",
                              file_count="multiple", interactive=False, elem_id="downloads")]


def results_row() -> list:
    """The figure, the status and the command line, under both columns."""
    gr.Markdown("**The path, and the output's interaural time and level differences over "
                "time** (the DSP baseline's for comparison)")
    figure = gr.Image(label="Interaural cues", show_label=False, type="filepath", format="png",
                      interactive=False, elem_id="cues")
    status = gr.Markdown(elem_id="status")
    command = gr.Textbox(label="The same on the command line", interactive=False,
                         elem_id="command")
    return [figure, status, command]


def build_app(*, models: dict[str, str | os.PathLike] | None = None,
              workspace: str | os.PathLike, max_seconds: float = MAX_SECONDS,
              device: str = "cpu") -> gr.Blocks:
    """The page, not yet launched.

    Args:
        models: {label: folder or Hub repo id}; the first is selected (default: `MODELS`).
        workspace: an existing temporary folder for the results (the caller removes it).
        max_seconds: the longest recording the page takes. device: where models run.
    """
    page = Page(models={name: str(model) for name, model in (models or MODELS).items()},
                workspace=Path(workspace), max_seconds=max_seconds, device=device)
    # Gradio's copies of uploads and results older than an hour go hourly, as `new_folder`'s.
    with gr.Blocks(title="BinauralGrad", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                recording = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                     label=f"Your recording (mono, any format and rate, up to "
                                           f"{max_seconds:g} s)", buttons=["download"],
                                     elem_id="recording")
                channel = gr.Radio([], visible=False, label=CHANNEL_QUESTION, elem_id="channel")
                path = path_controls()
                with gr.Row():
                    model = gr.Radio(list(page.models), value=next(iter(page.models)),
                                     label="Model", elem_id="model")
                    seed = gr.Number(0, precision=0, label="Seed", elem_id="seed")
                button = gr.Button("Synthesise", variant="primary", elem_id="synthesise")
            with gr.Column():
                view = gr.Plot(label="Seen from above", show_label=False, format="png",
                               elem_id="top-view")
                # Its own place: a redraw that ends after a synthesis must not wipe its status.
                checks = gr.Markdown(elem_id="checks")
                outputs = output_players()
        outputs += results_row()
        wire(demo, page, recording, channel, path, (view, checks), model, seed, button, outputs)
    return demo


def wire(demo, page, recording, channel, path, preview, model, seed, button, outputs) -> None:
    """The events: a new recording, a changed path, the page's load and the button.

    `preview` is the top view and what is wrong with the recording or path (`redraw`'s outputs).
    """
    recording.change(on_recording, recording, channel)
    # One listener for the recording and every path control: a change during a redraw is drawn
    # after it, with the values of the moment (one listener each would let an older one win).
    gr.on([control.change for control in (recording, *path)], redraw, [recording, *path],
          list(preview), trigger_mode="always_last")
    demo.load(redraw, [recording, *path], list(preview))
    # A partial keeps `synthesise`'s signature, whose gr.Progress default Gradio looks for.
    button.click(partial(synthesise, page), [recording, channel, model, seed, *path], outputs,
                 concurrency_limit=1)


def serve(demo: gr.Blocks, *, host: str, port: int | None, workspace: str | os.PathLike) -> str:
    """Starts serving `demo` (one synthesis at a time, the others queued); returns its URL."""
    sans, mono = SYSTEM_FONTS
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=True,
                            quiet=True, ssr_mode=False, allowed_paths=[str(workspace)],
                            footer_links=[], theme=gr.themes.Default(font=sans, font_mono=mono))
    return url
