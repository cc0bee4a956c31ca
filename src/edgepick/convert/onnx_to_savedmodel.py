"""ONNX -> TensorFlow SavedModel with onnx2tf (in its own venv, as for .tflite): TensorFlow's way in for every input.

onnx2tf builds the TensorFlow graph op by op and saves it with a serving_default signature (-osd), which the
tensorflow runtime calls. Unlike the .tflite edge, the batch stays dynamic: a SavedModel takes any batch size.
The first try keeps the model's dynamic dims; where onnx2tf fails with them, or builds a SavedModel that fails
when called once, a second try writes the measured shapes in with batch 1, and the artifact says so (static_batch).
A graph with no dynamic input dim has nothing to keep dynamic: it is converted as the .tflite edge converts it. Those
two requests (and the static retry) are the .tflite edge's own, so one onnx2tf pass serves both targets
(convert/onnx2tf_pass.py); the .tflite files onnx2tf writes beside the SavedModel stay in the pass for that edge.
The SavedModel is written by the env's TensorFlow (2.19) and loaded by the
main environment's (newer) one, which SavedModel's compatibility guarantee covers.
"""

from __future__ import annotations

from edgepick.convert.base import ConvertContext
from edgepick.convert.onnx_to_tflite import STATIC_ARGS, OnnxToTflite, run_onnx2tf
from edgepick.core.artifact import Artifact


class OnnxToSavedModel(OnnxToTflite):
    name = "onnx2tf-savedmodel"
    sources = ("onnx",)
    target = "tf-savedmodel"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        if not has_dynamic_dims(artifact.path):
            # Nothing dynamic to keep: onnx2tf is asked what the .tflite edge asks (STATIC_ARGS, the measured shapes),
            # so one pass serves both (convert/onnx2tf_pass.py); a retry with static shapes would be the same pass.
            return self._attempt(artifact, ctx, STATIC_ARGS, fix_dims=True, static_batch=1, recorded_batch=None)
        try:  # the model's own dynamic dims: a SavedModel for any batch (and size)
            return self._attempt(artifact, ctx, ["-osd"], fix_dims=False, static_batch=None, recorded_batch=None)
        except RuntimeError as first:
            # onnx2tf guesses some graphs wrong with dynamic dims: a ConvTranspose's output size ("Expected int32 ...
            # got ['unk__6', 160, 160, 24]"), a DBNet that fails when called ("Incompatible shapes: [1,10,20,96] vs.
            # [1,20,20,96]"). Once more with the measured shapes written in and the batch fixed to 1: only for those
            # two failures, as a conversion can take minutes (other failures go on to the onnxslim retry instead).
            # This is the .tflite edge's request: whichever of the two runs second reuses the other's pass.
            if not any(sign in str(first) for sign in _STATIC_HELPS):
                raise
            try:
                return self._attempt(artifact, ctx, STATIC_ARGS, fix_dims=True, static_batch=1, recorded_batch=1)
            except RuntimeError as second:
                raise RuntimeError(f"{first} (again with static shapes, batch 1: {second})") from second

    def _attempt(self, artifact: Artifact, ctx: ConvertContext, args, fix_dims: bool, static_batch,
                 recorded_batch) -> Artifact:
        """One onnx2tf request; recorded_batch: the batch the SavedModel is fixed to (None: the model's own)."""
        import shutil

        from edgepick.convert.onnx2tf_pass import link_tree

        out, prepared = run_onnx2tf(self.env, artifact, ctx, args, lambda d: (d / "saved_model.pb").exists(),
                                    static_batch=static_batch, fix_dims=fix_dims)
        own = ctx.out_dir / "saved_model"  # the pass is shared and read only: the SavedModel gets its own folder
        shutil.rmtree(ctx.out_dir / "saved_model_nchw", ignore_errors=True)
        link_tree(out, own, ignore=shutil.ignore_patterns("*.tflite"))  # the .tflite edge takes its file from the pass
        final, transposed = restore_channels_first(own, artifact.path, ctx.out_dir / "saved_model_nchw")
        files = [str(p) for p in final.rglob("*") if p.is_file()]
        result = Artifact("tf-savedmodel", str(final), {"converter": "onnx2tf (own venv)", "extra_files": files,
                                                        "input_names": ctx.signature.names,
                                                        "outputs_transposed_to_channels_first": transposed,
                                                        "onnx2tf_input": prepared, "static_batch": recorded_batch})
        try_one_call(result, ctx.signature)
        return result


def has_dynamic_dims(onnx_path: str) -> bool:
    """Whether any graph input has a dim that is not a positive number (a symbol, unknown, or Paddle's -1), or no
    shape at all."""
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    weights = {t.name for t in model.graph.initializer}
    inputs = [i.type.tensor_type for i in model.graph.input if i.name not in weights and i.type.HasField("tensor_type")]
    return any(not t.HasField("shape") or any(not (d.HasField("dim_value") and d.dim_value > 0) for d in t.shape.dim)
               for t in inputs)


# What onnx2tf's failures look like when static shapes fix them: a symbolic dim where TensorFlow needs an int
# ("Expected int32 ... got ['unk__6', 160, 160, 24]"), a SavedModel that fails when called (try_one_call), and a
# constant Expanded to a shape read from an input (Hugging Face ViT, wav2vec 2.0: "You are passing KerasTensor"),
# which the static request folds into a constant (convert/onnx2tf_integer.py).
_STATIC_HELPS = ("Expected int32", "fails when called", "You are passing KerasTensor")


def try_one_call(artifact: Artifact, signature) -> None:
    """Call the SavedModel once on synthetic inputs of the measured shapes: some graphs onnx2tf builds with dynamic
    dims only fail when called. Raises RuntimeError with TensorFlow's first line."""
    from edgepick.runtimes.tensorflow import TfSession, tf_callable

    try:
        session = TfSession(*tf_callable(artifact))
        session.to_numpy(session.run(session.prepare(signature.example_inputs(1))))
    except Exception as e:  # TensorFlow raises many types here; each is this candidate's conversion failing
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        raise RuntimeError(f"the SavedModel fails when called: {type(e).__name__}: {lines[0][:250] if lines else ''}") from e


def _onnx_output_shapes(onnx_path: str) -> list[list]:
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    return [[d.dim_value if d.HasField("dim_value") else None for d in o.type.tensor_type.shape.dim] for o in model.graph.output]


def _channels_last_perm(tf_shape: list, onnx_shape: list) -> list[int] | None:
    """The permutation taking onnx2tf's channels-last output back to the ONNX layout, when that is what it did."""
    rank = len(onnx_shape)
    if rank not in (3, 4, 5) or len(tf_shape) != rank:
        return None
    to_last = [0, *range(2, rank), 1]  # N C D1.. -> N D1.. C
    known = lambda a, b: a is None or b is None or a == b  # noqa: E731
    if all(known(a, b) for a, b in zip(tf_shape, onnx_shape)) and tf_shape != [onnx_shape[i] for i in to_last]:
        return None  # already in the ONNX layout
    if not all(known(tf_shape[i], onnx_shape[to_last[i]]) for i in range(rank)):
        return None
    back = [0, rank - 1, *range(1, rank - 1)]  # N D1.. C -> N C D1..
    return back


def restore_channels_first(saved_dir, onnx_path: str, out_dir) -> tuple:
    """onnx2tf hands 3-5-D outputs back channels-last even when the inputs keep channels-first (-k); edgepick compares
    every candidate with the reference in the model's own layout, so such outputs are transposed back inside a new
    serving_default. Returns (SavedModel folder, names of the outputs transposed)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_dir))
    serving = loaded.signatures["serving_default"]
    names = sorted(serving.structured_outputs, key=lambda k: [int(p) if p.isdigit() else p for p in k.replace("_", " ").split()])
    onnx_shapes = _onnx_output_shapes(onnx_path)
    if len(onnx_shapes) != len(names):
        return saved_dir, []
    perms = {n: _channels_last_perm(serving.structured_outputs[n].shape.as_list(), shape)
             for n, shape in zip(names, onnx_shapes)}
    perms = {n: p for n, p in perms.items() if p}
    if not perms:
        return saved_dir, []
    specs = list(serving.structured_input_signature[1].values())

    @tf.function(input_signature=specs)
    def channels_first(*xs):
        got = serving(**{spec.name: x for spec, x in zip(specs, xs)})
        return {n: tf.transpose(t, perms[n]) if n in perms else t for n, t in got.items()}

    module = tf.Module()
    module.base = loaded  # keeps the variables reachable, so they are saved with the new signature
    module.channels_first = channels_first
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": channels_first})
    return out_dir, sorted(perms)
