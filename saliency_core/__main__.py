"""``python -m saliency_core`` is the ``saliency-bench`` command."""

import sys

from .cli.main import main

sys.exit(main())
