"""``python -m snnbench`` (and ``torchrun -m snnbench``): the command line."""
import sys

from .cli import main

sys.exit(main())
