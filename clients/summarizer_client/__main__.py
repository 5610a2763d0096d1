"""`python -m summarizer_client`: the same as the `summarizer-client` command."""

import sys

from .cli import main

sys.exit(main())
