"""``python -m durian_core``: see :mod:`durian_core.cli`."""

import sys

from durian_core.cli import main

sys.exit(main())
