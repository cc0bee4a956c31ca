"""Parent-side plans that start extra workers for a candidate: repeats, cold starts, peak, background load."""
