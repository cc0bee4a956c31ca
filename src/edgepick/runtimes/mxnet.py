"""Apache MXNet 1.9.1, in its own venv (numpy 1.23.5), fed through the ONNX import bridge.

`edgepick env create mxnet` builds the venv; the launcher starts this runtime's worker with that venv's python, and
the worker protocol is the usual one. The artifact is ONNX: load() imports it with mxnet.contrib.onnx.import_model
into a Symbol + params (that import is part of the recorded load time) and binds an inference-only Module per input
shape. MXNet's importer predates ONNX IR 4 and expects every initializer to be listed as a graph input, as old
exporters wrote it, so the bridge adds those entries first. Ops or opsets the importer lacks fail the load with
MXNet's own message. Importer translations replaced (repair_importer): Slice, which compares each end with the
*first graph input's* shape and writes an open end as None into a float array, so every Slice to the end of an axis
failed ("end expect int or None but value='nan'"), and which ignores steps; Squeeze and Unsqueeze, which read axes
from the attribute only, while opset 13 passes them as an input; and Resize, which it lacks, in its bilinear
half-pixel form (TFLite's RESIZE_BILINEAR through tf2onnx); PRelu with a [1, C, 1, 1] slope.

Threads: MXNet's OpenMP/MKL-DNN pools are sized at import from OMP_NUM_THREADS, so the launcher sets it (worker_env);
MXNet's engine dispatches asynchronously, so run() waits for the outputs before the timer stops.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgepick.core import envs, errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session

_OPEN = 2**31 - 1  # at or beyond int32: ONNX's "to the end" (exporters write INT64_MAX); MXNet's attributes are int32


def _bound(value) -> int | None:
    """A Slice start or end as MXNet's slice takes it: None for an open end, else the int (MXNet clips like numpy)."""
    value = int(value)
    return None if value >= _OPEN or value <= -_OPEN else value


def slice_symbol(data, starts, ends, axes, steps):
    """ONNX Slice as MXNet symbols: one `slice` per axis (per-axis tuples, None for open ends, any step), or
    `slice_axis` for a negative axis with step 1 (its rank is unknown here)."""
    from mxnet import symbol

    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    for axis, start, end, step in zip(axes, starts, ends, steps):
        begin, stop = _bound(start), _bound(end)
        if axis >= 0:
            pad = (None,) * axis
            data = symbol.slice(data, begin=pad + (begin,), end=pad + (stop,), step=pad + (step,))
        elif step == 1:
            data = symbol.slice_axis(data, axis=axis, begin=begin or 0, end=stop)
        else:
            raise NotImplementedError(f"Slice with step {step} on negative axis {axis}")
    return data


def _translate_slice(attrs, inputs, proto_obj):
    """The importer's Slice translation, repaired (its signature: attributes, input symbols, the importer)."""
    if proto_obj.opset_version >= 10:  # starts, ends, axes, steps are inputs: constants the importer keeps as params
        values = [proto_obj._params[i.name].asnumpy() if i is not None else None for i in inputs[1:5]]
        values += [None] * (4 - len(values))
    else:
        values = [attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None]
    return slice_symbol(inputs[0], *values), {}, inputs


def _axes_input(attrs, inputs, proto_obj) -> tuple[list[int] | None, list]:
    """(axes, the data inputs): from the `axes` attribute before opset 13, from the constant second input after (the
    importer passes that constant's Symbol on as the axis: "expect Shape or None but value='<Symbol const_axes>'")."""
    if proto_obj.opset_version >= 13 and len(inputs) > 1:
        return [int(a) for a in proto_obj._params[inputs[1].name].asnumpy()], inputs[:1]
    axes = attrs.get("axes")
    return (None if axes is None else [int(a) for a in axes]), inputs[:1]


def _translate_squeeze(attrs, inputs, proto_obj):
    from mxnet import symbol

    axes, data = _axes_input(attrs, inputs, proto_obj)
    return symbol.squeeze(data[0], axis=None if axes is None else tuple(axes)), {}, data


def _translate_unsqueeze(attrs, inputs, proto_obj):
    from mxnet import symbol

    axes, data = _axes_input(attrs, inputs, proto_obj)
    if len(axes) > 1 and min(axes) < 0:
        raise NotImplementedError(f"Unsqueeze with several axes, some negative: {axes}")
    out = data[0]
    for axis in sorted(axes):  # ONNX's axes index the output; inserted in ascending order, each lands where it says
        out = symbol.expand_dims(out, axis=axis)
    return out, {}, data


def _constant(proto_obj, symbol_in):
    """The values of a constant input the importer keeps as a param, else None (absent, empty or computed)."""
    params = proto_obj._params
    value = params[symbol_in.name].asnumpy() if symbol_in is not None and symbol_in.name in params else None
    return value if value is not None and value.size else None


def _translate_resize(attrs, inputs, proto_obj):
    """ONNX Resize (opset 11+), the form TFLite's RESIZE_BILINEAR takes through tf2onnx: linear, half-pixel centres,
    4-D, constant integer spatial scales (or constant sizes). MXNet's BilinearResize2D with align_corners=False
    computes exactly that sampling; any other form stays unsupported, as the importer had it."""
    from mxnet import symbol

    def text(key, default):
        value = attrs.get(key, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    mode, transform = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel")
    scales = _constant(proto_obj, inputs[2]) if len(inputs) > 2 else None
    sizes = _constant(proto_obj, inputs[3]) if len(inputs) > 3 else None
    if mode != "linear" or transform not in ("half_pixel", "pytorch_half_pixel") or proto_obj.opset_version < 11:
        raise NotImplementedError(f"Resize mode {mode}, {transform} (only linear with half-pixel centres is mapped)")
    if sizes is not None and len(sizes) == 4:
        out = symbol.contrib.BilinearResize2D(inputs[0], height=int(sizes[2]), width=int(sizes[3]), align_corners=False)
    elif scales is not None and len(scales) == 4 and list(scales[:2]) == [1, 1] and all(float(v).is_integer() for v in scales[2:]):
        out = symbol.contrib.BilinearResize2D(inputs[0], scale_height=float(scales[2]), scale_width=float(scales[3]),
                                              align_corners=False)
    else:
        raise NotImplementedError(f"Resize with scales {scales} and sizes {sizes} (constant integer H, W scales only)")
    return out, {}, inputs[:1]


def _translate_prelu(attrs, inputs, proto_obj):
    """ONNX PRelu as MXNet's LeakyReLU(prelu), whose gamma must be 1-D along axis 1 ("Cannot broadcast gamma to data.
    gamma: [1,16,1,1]"): a constant [1, C, 1, 1] slope (tf2onnx's form) is given as its C values, the same numbers
    on the same axis of a 4-D input. Other slopes go through as the importer had them."""
    from mxnet import nd, symbol

    slope = _constant(proto_obj, inputs[1])
    if slope is not None and slope.ndim == 4 and slope.shape[0] == 1 and slope.shape[2:] == (1, 1):
        name = f"{inputs[1].name}_edgepick_channels"
        proto_obj._params[name] = nd.array(slope.reshape(-1))
        inputs = [inputs[0], symbol.Variable(name, shape=(slope.shape[1],))]
    return symbol.LeakyReLU(inputs[0], gamma=inputs[1], act_type="prelu"), {}, inputs


def repair_importer() -> None:
    from mxnet.contrib.onnx.onnx2mx import _import_helper

    _import_helper._convert_map["Slice"] = _translate_slice
    _import_helper._convert_map["Squeeze"] = _translate_squeeze
    _import_helper._convert_map["Unsqueeze"] = _translate_unsqueeze
    _import_helper._convert_map["Resize"] = _translate_resize
    _import_helper._convert_map["PRelu"] = _translate_prelu


def onnx_for_mxnet(path: str, out_dir: str) -> tuple[str, list[str], int | None]:
    """Write a copy whose initializers are also graph inputs; return (its path, the data input names, the opset)."""
    import onnx
    from onnx import helper

    from edgepick.core.onnx_graph import channel_pads_as_concats

    model = onnx.load(path)
    channel_pads_as_concats(model)  # MXNet's Pad pads only the spatial axes: channel pads become exact Concats
    initializers = {t.name for t in model.graph.initializer}
    listed = {i.name for i in model.graph.input}
    for t in model.graph.initializer:
        if t.name not in listed:
            model.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    fixed = str(Path(out_dir) / "for-mxnet.onnx")
    onnx.save(model, fixed)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return fixed, [i.name for i in model.graph.input if i.name not in initializers], opset


def _last_line(error: Exception) -> str:
    """MXNet's own error, which it puts on the last line of its message."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(error).__name__


class _MxSession(Session):
    def __init__(self, symbol, arg_params, aux_params, data_names):
        self.symbol, self.arg_params, self.aux_params = symbol, arg_params, aux_params
        self.data_names = data_names
        self.module = None
        self.bound_shapes = None
        self.details = {"precision_used": "f32", "precision_source": "Module bound with the imported float32 params "
                        "(MXNet has no reduced-precision switch on; AMP not used)",
                        "shape_mode": "static (the Module is bound to each input shape before it runs)"}

    def prepare(self, inputs):
        # Binding allocates for one input shape: done here, outside the timer, and again only if the shape changes.
        import mxnet as mx

        names = self.data_names if all(n in inputs for n in self.data_names) else list(inputs)
        shapes = [(n, tuple(inputs[n].shape)) for n in names]
        if shapes != self.bound_shapes:
            module = mx.mod.Module(symbol=self.symbol, data_names=names, label_names=None, context=mx.cpu())
            try:
                module.bind(for_training=False, data_shapes=shapes)
            except RuntimeError as e:  # "simple_bind error. Arguments:" first; MXNet's own error is the last line
                raise RuntimeError(f"MXNet could not bind for {shapes}: {_last_line(e)}") from e
            module.set_params(self.arg_params, self.aux_params, allow_missing=True, allow_extra=True)
            self.module, self.bound_shapes = module, shapes
        return mx.io.DataBatch([mx.nd.array(np.asarray(inputs[n], order="C"), dtype=inputs[n].dtype) for n in names])

    def run(self, prepared):
        self.module.forward(prepared, is_train=False)
        outputs = self.module.get_outputs()
        try:
            for o in outputs:
                o.wait_to_read()
        except Exception as e:  # MXNetError's message starts with a C++ "Traceback": the row keeps its last line
            raise RuntimeError(_last_line(e)) from e
        return outputs

    def to_numpy(self, outputs):
        return [o.asnumpy() for o in outputs]


class MxNet(Runtime):
    name = "mxnet"
    formats = ("onnx",)
    import_name = "mxnet"
    distribution = "mxnet"
    extra = "mxnet"
    env = "mxnet"  # runs in envs.ENVS["mxnet"], never in the main environment
    thread_setting = "OMP_NUM_THREADS=N and MXNET_CPU_WORKER_NTHREADS=1, set before the worker starts"
    description = "Apache MXNet 1.9.1 (own venv, numpy 1.23.5), ONNX imported with mxnet.contrib.onnx, Module API"

    @classmethod
    def is_available(cls) -> bool:
        return envs.is_ready(cls.env)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return envs.unavailable_reason(cls.env)

    @classmethod
    def install_hint(cls) -> str:
        return f"edgepick env create {cls.env}"

    @classmethod
    def version(cls) -> str | None:
        record = envs.marker(cls.env)
        return "1.9.1 (own venv)" if record else None

    @staticmethod
    def worker_env(threads: int) -> dict[str, str]:
        return {"OMP_NUM_THREADS": str(threads), "MXNET_CPU_WORKER_NTHREADS": "1", "MXNET_ENGINE_TYPE": "ThreadedEnginePerDevice"}

    def import_framework(self) -> None:
        import mxnet  # noqa: F401
        from mxnet.contrib import onnx  # noqa: F401

    def load(self, artifact: Artifact, threads: int) -> Session:
        from mxnet.contrib import onnx as onnx_mxnet

        repair_importer()
        with tempfile.TemporaryDirectory() as tmp:
            fixed, data_names, opset = onnx_for_mxnet(artifact.path, tmp)
            try:
                symbol, arg_params, aux_params = onnx_mxnet.import_model(fixed)
            except Exception as e:  # the importer predates today's exporters' op forms: say which graph it refused
                first = errors.first_line(e, 240)
                raise errors.CandidateFailure(errors.LOAD_ERROR, f"mxnet.contrib.onnx could not import this ONNX graph "
                                              f"(opset {opset}): {type(e).__name__}: {first}") from e
        return _MxSession(symbol, arg_params, aux_params, data_names)
