"""``stress db``: an operator's view of a run's databases, read-only (see :mod:`.views`)."""
