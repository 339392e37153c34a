"""``python -m kapic``."""

import sys

from kapic.cli import main

sys.exit(main())
