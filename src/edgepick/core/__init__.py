"""The shared base every layer may import: artifacts, errors, paths, units, the registry, typed rows."""
