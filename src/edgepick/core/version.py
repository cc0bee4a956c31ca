"""edgepick's version, read once from the installed package's metadata (pyproject.toml's `version`).

Every module that records the version (run keys, export manifests, `edgepick.__version__`) imports it from here, so
none of them imports the top-level package, whose `pick()` reaches the scheduler: no lazy import cycle through it.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("edgepick")
except metadata.PackageNotFoundError:  # a source tree on sys.path without an install: say so rather than guess
    __version__ = "0+unknown"
