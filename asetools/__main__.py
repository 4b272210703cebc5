"""``python -m asetools``: the command line (what ``torchrun -m asetools`` runs)."""

import sys

from .cli import main

sys.exit(main())
