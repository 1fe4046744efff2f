"""``python -m leadsync``: the same command line as ``leadsync``."""

from leadsync.cli import main

main()
