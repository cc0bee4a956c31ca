"""INT8 static quantization of OpenVINO IR through NNCF: `nncf.quantize`, and `nncf.quantize_with_accuracy_control`,
which reverts the most sensitive layers to float until the drop is within the tolerance (NNCF's own ranking).
"""

from __future__ import annotations

from edgepick.compress.base import CompressContext, Compressor
from edgepick.core.artifact import Artifact


def _dataset(nncf, calibration, input_names: list[str]):
    items = list(calibration.batches(1))
    return nncf.Dataset(items, lambda item: {k: item[k] for k in input_names if k in item})


class NncfQuantize(Compressor):
    name = "int8-static-nncf"
    family = "int8-static"
    input_formats = ("openvino-ir",)
    output_format = "openvino-ir"
    runtimes = ("openvino",)
    precision = "int8"
    import_name = "nncf,openvino"
    distribution = "nncf"
    extra = "compress"
    needs_calibration = True
    options = {"accuracy_control": "use nncf.quantize_with_accuracy_control with --max-acc-drop"}
    description = "nncf.quantize (post-training, MinMax + FastBiasCorrection) on OpenVINO IR"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        if label in ("int8-static", "int8-static-nncf"):
            out = [("int8-static-nncf", {})]
            if label == "int8-static":
                out.append(("int8-static-nncf-ac", {"accuracy_control": True}))
            return out
        if label == "int8-static-nncf-ac":
            return [(label, {"accuracy_control": True})]
        return []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import logging

        import nncf
        import openvino as ov

        nncf.set_log_level(logging.ERROR)  # its INFO lines would interleave with the sweep's table
        model = ov.Core().read_model(artifact.path)
        names = [p.get_any_name() for p in model.inputs]
        calib = _dataset(nncf, calibration, names)
        subset = calibration.size
        if ctx.options.get("accuracy_control"):
            quantized = self._with_accuracy_control(nncf, ov, model, calib, names, subset, ctx)
        else:
            quantized = nncf.quantize(model, calib, subset_size=subset)
            ctx.record["algorithm"] = "nncf.quantize"
        out = ctx.out_dir / "model.int8.xml"
        ov.save_model(quantized, str(out), compress_to_fp16=False)
        return Artifact("openvino-ir", str(out), {"extra_files": [str(out.with_suffix(".bin"))], "quantized": "nncf"})

    def _with_accuracy_control(self, nncf, ov, model, calib, names, subset, ctx: CompressContext):
        import numpy as np

        if ctx.eval_inputs is None or ctx.metric is None:
            raise ValueError("accuracy control needs validation data and a metric")
        n = len(next(iter(ctx.eval_inputs.values())))
        # Items carry their index: NNCF validates on subsets when ranking layers, and labels must follow.
        val_items = [(i, {k: v[i:i + 1] for k, v in ctx.eval_inputs.items() if k in names}) for i in range(n)]
        validation = nncf.Dataset(val_items, lambda item: item[1])
        metric, labels, reference = ctx.metric, ctx.eval_labels, ctx.reference

        def validate(compiled, items) -> float:
            items = list(items)
            idx = np.array([i for i, _ in items])
            request = compiled.create_infer_request()
            outs = [[np.array(o) for o in request.infer(x).values()] for _, x in items]
            joined = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
            return metric.score(joined, None if labels is None else labels[idx], [r[idx] for r in reference])

        tol = ctx.tolerance
        drop_type = nncf.DropType.RELATIVE if tol.relative else nncf.DropType.ABSOLUTE
        quantized = nncf.quantize_with_accuracy_control(model, calib, validation, validate, max_drop=tol.value,
                                                        drop_type=drop_type, subset_size=subset)
        ctx.record.update(algorithm="nncf.quantize_with_accuracy_control", max_drop=tol.describe(),
                          metric=metric.name)
        return quantized
