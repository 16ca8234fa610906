"""``python -m stress``: the same as the ``stress`` command."""

from stress.cli import console_main

console_main()
