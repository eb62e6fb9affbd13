"""`python -m binauralgrad` runs the command-line interface."""

import sys

from binauralgrad.cli import main

sys.exit(main())
