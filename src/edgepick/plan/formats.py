"""The conversion graph: formats are nodes, converters are edges. The planner asks it for shortest paths."""

from __future__ import annotations

from collections import deque

from edgepick.core.registry import CONVERTERS, RUNTIMES

# What each format is, for `edgepick formats` and error messages.
FORMATS = {
    "torch-factory": "an nn.Module built by a module:callable factory (or a zoo name)",
    "torch-exported": "a torch.export ExportedProgram (.pt2)",
    "torch-pickle": "a pickled nn.Module (.pt/.pth), only with --trust-pickle",
    "onnx": "ONNX (.onnx)",
    "openvino-ir": "OpenVINO IR (.xml + .bin)",
    "torchscript": "TorchScript archive (torch.jit.save: .pt/.jit/.ts with code/ and constants.pkl; or edgepick's own trace)",
    "executorch-pte": "ExecuTorch program (.pte), XNNPACK-delegated",
    "ncnn": "ncnn (.param + .bin), written by pnnx",
    "tvm-relax": "Apache TVM Relax module compiled for the host CPU (.so)",
    "caffe": "Caffe (.prototxt + .caffemodel beside it), input only",
    "darknet": "Darknet (.cfg + .weights beside it), input only",
    "keras": "Keras model (.keras, or legacy HDF5 .h5/.hdf5), loaded in safe mode",
    "tf-savedmodel": "TensorFlow SavedModel (a directory with saved_model.pb), serving_default signature",
    "tflite": "LiteRT / TensorFlow Lite flatbuffer (.tflite)",
}


def edges(installed_only: bool = False) -> list[tuple[str, str, str]]:
    """(source, target, converter name) for every registered converter (or only those usable here)."""
    out = []
    for name, conv in CONVERTERS.all().items():
        if installed_only and not conv.is_available():
            continue
        for src in conv.sources:
            out.append((src, conv.target, name))
    return out


def usable_path(source: str, targets: tuple[str, ...]) -> list[str] | None:
    """The shortest path through converters installed here; else the shortest overall, whose row then names the
    converter to install. (torch -> LiteRT goes through ONNX and onnx2tf when litert-torch is missing.)"""
    path = shortest_path(source, targets, installed_only=True)
    return path if path is not None else shortest_path(source, targets)


def shortest_path(source: str, targets: tuple[str, ...], installed_only: bool = False) -> list[str] | None:
    """Converter names leading from `source` to the nearest of `targets`; [] if source is already one; None if none."""
    if source in targets:
        return []
    graph: dict[str, list[tuple[str, str]]] = {}
    for src, dst, name in edges(installed_only):
        graph.setdefault(src, []).append((dst, name))
    seen = {source}
    queue: deque[tuple[str, list[str]]] = deque([(source, [])])
    while queue:
        node, path = queue.popleft()
        for dst, name in graph.get(node, []):
            if dst in seen:
                continue
            if dst in targets:
                return path + [name]
            seen.add(dst)
            queue.append((dst, path + [name]))
    return None


def reachable_runtimes(source: str) -> dict[str, list[str] | None]:
    return {name: shortest_path(source, rt.formats) for name, rt in RUNTIMES.all().items()}
