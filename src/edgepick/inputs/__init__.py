"""Loading what the user brings: each model format, eval data, input signatures, user callables."""
