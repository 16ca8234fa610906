"""``python -m stress``: the same as the ``stress`` command."""

from stress.cli.main import console_main

console_main()
