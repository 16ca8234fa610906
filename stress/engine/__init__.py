"""Running a simulation: the runner, the coordinator, worker processes, users, faults."""
