"""Fold an ONNX graph's shape subgraphs, for the converters and runtimes that need static graphs: one retry.

TVM's ONNX frontend, pnnx, OpenCV DNN and MXNet read a Reshape's target shape, a Resize's sizes and similar as
constants. Exporters often compute them from the input's shape at run time (Shape -> Gather -> Cast -> Concat), which
those tools refuse ("Reshape requires the input new shape to be Shape"). When a conversion step or a runtime fails on
an ONNX graph, the graph is simplified once -- every input dimension fixed to the concrete shape being measured (the
batch stays symbolic when the model's is, so one artifact still serves every --batch), constants folded and shape
arithmetic resolved by onnxslim -- and the step is retried on it. The simplified graph is its own cached step,
"onnxslim", recorded in the row's conversion steps and checked against the reference like any intermediate step.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.core.onnx_graph import fix_input_shapes  # noqa: F401 - convert/ modules import it from here

STEP = "onnxslim"  # the name the simplification step has in a row's conversion steps and in the cache
RETRY_CLASSES = (errors.LOAD_ERROR, errors.RUNTIME_ERROR, errors.CRASH, errors.CONVERSION_ERROR)
_LARGE = 2**31 - 1  # protobuf's limit: larger graphs keep their weights in an external data file


def describe(exc: BaseException) -> str:
    """One line naming the root error: the last exception line of a traceback inside the message, else the message's
    first lines joined (OpenVINO puts the source location first and the unconverted op names lines below)."""
    text = str(exc).strip()
    root = errors.root_cause(text)
    if root:
        return root[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    joined = " ".join(lines[:6])[:300]
    return joined if errors.root_cause(lines[0]) else f"{type(exc).__name__}: {joined}"




def fill_kernel_shapes(model) -> int:
    """Write Conv/ConvTranspose's optional kernel_shape attribute from the weight's shape where it is missing: ONNX
    infers it, MXNet's importer reads it (KeyError: 'kernel' without it). Returns how many nodes got one."""
    from onnx import helper

    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    filled = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose") or any(a.name == "kernel_shape" for a in node.attribute):
            continue
        dims = weights.get(node.input[1]) if len(node.input) > 1 else None
        if dims and len(dims) > 2:
            node.attribute.append(helper.make_attribute("kernel_shape", dims[2:]))
            filled += 1
    return filled


def simplify(artifact: Artifact, signature, out_dir: Path) -> tuple[Artifact, dict]:
    """The ONNX graph with fixed input shapes, folded and simplified by onnxslim, written under out_dir."""
    import onnx
    import onnxslim

    model = onnx.load(artifact.path)
    before = len(model.graph.node)
    shapes = fix_input_shapes(model, signature)
    slim = onnxslim.slim(model)
    filled = fill_kernel_shapes(slim)
    out = out_dir / "model.onnx"
    extra = []
    if slim.ByteSize() > _LARGE:
        onnx.save(slim, str(out), save_as_external_data=True, location="model.onnx.data")
        extra = [str(out_dir / "model.onnx.data")]
    else:
        onnx.save(slim, str(out))
    record = {"by": f"onnxslim {onnxslim.__version__}", "input_shapes": shapes, "nodes_before": before,
              "nodes_after": len(slim.graph.node), **({"kernel_shapes_filled": filled} if filled else {})}
    meta = {**{k: v for k, v in artifact.meta.items() if k != "extra_files"}, "extra_files": extra, "simplified": record}
    return Artifact("onnx", str(out), meta), record


def simplified_step(artifact: Artifact, signature, step_dir: Path, first_error: str, check=None) -> tuple[Artifact, dict]:
    """(simplified artifact, its step record), cached in step_dir like a converter step. Raises CandidateFailure.

    `check(artifact) -> equivalence dict` checks the simplified graph against the reference as soon as it exists:
    every converter that retries builds on it, so a simplification that changed the model must stop them all, and
    be named as the cause, before anything is built on it."""
    record_file = step_dir / "artifact.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        step = {**record["step"], "cached": True, "after_error": first_error}
        if check is not None and "equivalence" not in step:
            step["equivalence"] = _checked(record_file, record, check)
        _refuse_if_changed(step, first_error)
        return Artifact.from_dict(record["artifact"]), step
    try:
        import onnxslim  # noqa: F401
    except ImportError as e:
        raise errors.CandidateFailure(errors.NOT_INSTALLED, "onnxslim is not installed: pip install 'edgepick[compress]'") from e
    if step_dir.exists():
        shutil.rmtree(step_dir)  # a half-written step from a killed sweep
    step_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        simple, info = simplify(artifact, signature, step_dir)
    except Exception as e:
        raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"{STEP} failed: {describe(e)}") from e
    step = {"converter": STEP, "seconds": time.perf_counter() - t0, "simplified": info}
    record = {"artifact": simple.to_dict(), "step": step}
    record_file.write_text(json.dumps(record))
    if check is not None:
        step["equivalence"] = _checked(record_file, record, check)
    _refuse_if_changed(step, first_error)
    return simple, {**step, "cached": False, "after_error": first_error}


def _checked(record_file: Path, record: dict, check) -> dict:
    """Check the cached simplified artifact once, and keep the verdict with it for every later converter."""
    equivalence = check(Artifact.from_dict(record["artifact"]))
    record["step"]["equivalence"] = equivalence
    record_file.write_text(json.dumps(record))
    return equivalence


def _refuse_if_changed(step: dict, first_error: str) -> None:
    eq = step.get("equivalence") or {}
    if not eq.get("checked") or eq.get("agrees"):
        return
    did, reason_class = "changed the model", errors.DISAGREES
    if eq.get("runs") is False:  # ONNX Runtime cannot even load or run it: a broken step, not a different model
        did, reason_class = "made a graph ONNX Runtime cannot run", errors.CONVERSION_ERROR
    raise errors.CandidateFailure(reason_class, (
        f"preparation step {STEP} (input shapes fixed, shape arithmetic folded) {did}: {eq.get('why')}; "
        f"nothing is built on it (it was tried after: {first_error})"))


def step_dir_for(cache_root: Path, path_before: list[str]) -> Path:
    """Where the simplified version of the artifact that `path_before` produced is cached."""
    return cache_root / "+".join([*path_before, STEP])


def retry_measurement(result: dict, artifact: Artifact, steps: list[dict], path: list[str], cache_root: Path,
                      measure, simplify) -> tuple[Artifact, list[dict], dict]:
    """A runtime that failed on an ONNX graph (OpenCV DNN, MXNet, ...) is measured once more on the simplified graph.

    `simplify(artifact, step_dir, first_error)` makes and checks the simplified graph (simplified_step, in a worker);
    `measure(artifact)` runs the worker and returns its result. Returns (artifact, steps, result): the new ones when
    the retry happened, else the given ones. A second failure keeps the first (root) reason, with the second beside it;
    a simplified graph that changed the model is the reason itself (class disagrees), named first."""
    if (result.get("status") == "ok" or result.get("reason_class") not in RETRY_CLASSES or artifact.format != "onnx"
            or artifact.meta.get("simplified")):
        return artifact, steps, result
    try:
        simple, step = simplify(artifact, step_dir_for(cache_root, path), result.get("reason") or "")
    except errors.CandidateFailure as e:
        if e.reason_class == errors.DISAGREES:
            return artifact, steps, {**result, "reason_class": e.reason_class, "reason": e.message}
        return artifact, steps, result
    second = measure(simple)
    if second.get("status") != "ok":
        second = {**second, "reason_class": result["reason_class"],
                  "reason": f"{result['reason']} (again on the {STEP}-simplified graph: {second.get('reason')})"}
    return simple, [*steps, step], second
