"""edgepick: pick the runtime and optimization to deploy a model with, by measurement.

`import edgepick` stays light: no ML framework is imported until a sweep needs it.
"""

from __future__ import annotations

__version__ = "0.1.0"


def pick(model, **options):
    """Measure `model` (a path, zoo name, 'module:callable' or nn.Module) on every runtime; return a Run.

    Options are the fields of edgepick.sweep.Request: runtimes, threads, batches, input_shape, data,
    memory_limit, timeout_s, force, db_url, budget, optimize, ... `threads` and `batches` take an int or a list;
    `device` takes a profile name (pi-class, phone-class), a YAML path or a DeviceProfile.
    """
    from edgepick.sweep import Request, execute

    for name in ("threads", "batches"):
        if isinstance(options.get(name), int):
            options[name] = [options[name]]
    device = options.pop("device", None)
    request = Request(model=model, **options)
    if device is not None:  # a built-in profile name, a YAML path or a DeviceProfile: its cores, threads, cap apply
        from edgepick.devices import DeviceProfile, apply_to_request, load_device

        profile = device if isinstance(device, DeviceProfile) else load_device(str(device))
        apply_to_request(profile, request, "threads" in options, "memory_limit" in options)
    return execute(request)


__all__ = ["pick", "__version__"]
