"""``python -m saliency_core.cli``: the ``saliency-bench`` command."""

import sys

from .main import main

sys.exit(main())
