"""edgepick: pick the runtime and optimization to deploy a model with, by measurement.

`import edgepick` stays light: no ML framework is imported until a sweep needs it.
"""

from __future__ import annotations

__version__ = "0.1.0"


def pick(model, **options):
    """Measure `model` (a path, zoo name, 'module:callable' or nn.Module) on every runtime; return a Run.

    Options are the fields of edgepick.sweep.Request: runtimes, threads, batches, input_shape, data,
    memory_limit, timeout_s, force, db_url, ... `threads` and `batches` take an int or a list.
    """
    from edgepick.sweep import Request, execute

    for name in ("threads", "batches"):
        if isinstance(options.get(name), int):
            options[name] = [options[name]]
    return execute(Request(model=model, **options))


__all__ = ["pick", "__version__"]
