"""``python -m fem_cell`` = ``fem-cell``."""

import sys

from fem_cell._entry import main

sys.exit(main())
