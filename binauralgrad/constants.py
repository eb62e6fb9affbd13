"""Constants shared across the package, defined once (importing this loads nothing heavy)."""

from pathlib import Path

SAMPLE_RATE = 48000  # Hz, of all audio (the Binaural Speech data set's rate)
FRAME_SAMPLES = 400  # audio samples per 120 Hz position row
POSITION_COLUMNS = 7  # x y z qx qy qz qw
# A small pipeline trained on the package's simulated data ships inside the package.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
# The same recipe at half the width (the "live" size): it streams in real time on two CPU cores.
LIVE_MODEL_DIR = Path(__file__).resolve().parent / "live_model"
# A pipeline folder's stage subfolders; a room's heads are stored under the same names.
STAGE_FOLDERS = ("stage_one", "stage_two")
# `binauralgrad app` takes recordings up to this long: a minute or two of synthesis on a CPU.
APP_MAX_SECONDS = 60.0
EVALUATION_PROTOCOLS = ("paper", "full")  # see binauralgrad.evaluation.metrics.metric_names
# Chunked synthesis: context each side of a chunk, and the cross-fade at the joins.
DEFAULT_OVERLAP_S = 0.25
DEFAULT_CROSSFADE_S = 0.05
# The simulator's walls: the range of their pressure reflection coefficients (data.room).
WALL_REFLECTION = (0.7, 0.9)  # the original simulator's (RT60 about 0.2-0.6 s)
# Drier walls, as recorded speech scenes have: with them the true head's direct sound scores
# about 0.48x the attenuated warp's Wave L2 on KEMAR scenes, as it does on recorded-room test
# scenes; with WALL_REFLECTION it scores 0.83x (the reverberation then drowns the head).
DRY_WALL_REFLECTION = (0.5, 0.8)
