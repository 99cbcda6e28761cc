"""``python -m ndx_encoding_subspace``: the ``encoding-subspace`` command line."""

import sys

from .cli import main

sys.exit(main())
