"""What must hold after a run: the write ledger users keep, and the no-loss verification."""
