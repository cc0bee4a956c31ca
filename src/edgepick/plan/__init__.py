"""Which candidates to measure: formats, conversion paths, precisions, device profiles, capabilities."""
