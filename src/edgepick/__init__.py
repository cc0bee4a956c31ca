"""edgepick: pick the runtime and optimization to deploy a model with, by measurement.

`import edgepick` stays light: no ML framework is imported until a sweep needs it.
"""

from __future__ import annotations

from edgepick.core.version import __version__


def pick(model, **options):
    """Measure `model` (a path, zoo name, 'module:callable' or nn.Module) on every runtime; return a Run.

    Options are the flat names of edgepick.sweep.settings (settings.FLAT): runtimes, threads, batches, input_shape, data,
    memory_limit, timeout_s, force, db_url, budget, optimize, ... `threads` and `batches` take an int or a list;
    `device` takes a profile name (pi-class, phone-class), a YAML path or a DeviceProfile.
    """
    from edgepick.sweep.scheduler import execute
    from edgepick.sweep.settings import build

    for name in ("threads", "batches"):
        if isinstance(options.get(name), int):
            options[name] = [options[name]]
    return execute(build(model, **options))


__all__ = ["pick", "__version__"]
