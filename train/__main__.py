"""``python -m train {train,generate,export} ...``: the trainer's commands without the curation CLI."""

import sys

from train.cli import main

sys.exit(main())
