"""imagesig demo: sign and verify an image on an OCI layout, with no server at all.

Builds a tiny image in an OCI image-layout directory, generates a key pair, signs the image
in both of cosign's formats (each signature recorded in a transparency log that runs locally,
inside this process), verifies it, tampers with it and shows the verification failing.

The story is ``imagesig demo`` (:mod:`imagesig.cli.demo`); this script runs that same code.
Run it with ``make demo`` or ``python examples/demo.py [DIRECTORY]``; given a directory, the
files stay there and the script prints ``imagesig verify`` commands to try on them.
"""

from __future__ import annotations

import sys

from imagesig.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
