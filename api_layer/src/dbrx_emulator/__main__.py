"""`python -m dbrx_emulator` runs the console script."""

import sys

from dbrx_emulator.cli import main

sys.exit(main())
