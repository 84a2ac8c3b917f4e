"""``python -m randomisation.verifier`` (or ``python -m verifier`` for a copied folder)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
