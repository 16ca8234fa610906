"""What is measured while a run goes on: statistics, progress, resources and backpressure."""
