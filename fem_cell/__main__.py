"""``python -m fem_cell`` = ``fem-cell``."""

import sys

from fem_cell.cli import main

sys.exit(main())
