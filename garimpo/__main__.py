"""``python -m garimpo ...`` (and ``torchrun -m garimpo train ...``): the same as the `garimpo` command."""

import sys

from garimpo.cli import main

sys.exit(main())
