"""The statistics both sides share: equivalence rules and verdicts, noise and confidence intervals, op families,
the roofline. Pure functions, no processes (the measuring itself runs in worker/measure.py)."""
