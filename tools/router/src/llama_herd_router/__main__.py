"""``python -m llama_herd_router``."""

import sys

from .cli import main

sys.exit(main())
