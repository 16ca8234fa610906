"""Re-running a recorded run exactly, and refusing replay files that contradict themselves."""
