"""Only code that runs inside a worker process: the measurement loop and the sweep's isolated steps."""
