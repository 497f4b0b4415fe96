"""``python -m imagesig``: the command line (see :mod:`imagesig.cli`)."""

from __future__ import annotations

import sys

from imagesig.cli import main

if __name__ == "__main__":
    sys.exit(main())
