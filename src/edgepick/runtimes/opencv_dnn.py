"""OpenCV's DNN module: runs ONNX, and is edgepick's path for Caffe (.prototxt + .caffemodel) and Darknet (.cfg + .weights)."""

from __future__ import annotations

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session, measured_shapes


class _CvSession(Session):
    def __init__(self, net, input_names, details=None, graph_outputs=None):
        self.details = details
        self.net = net
        self.input_names = input_names
        self.output_names = in_graph_order(list(net.getUnconnectedOutLayersNames()), graph_outputs or [])

    def prepare(self, inputs):
        return [(name, np.asarray(inputs[name], order="C")) for name in (self.input_names or list(inputs))]

    def run(self, prepared):
        # setInput copies the blob into the net; it is part of every call, as feeding is for the other runtimes.
        if len(prepared) == 1:
            self.net.setInput(prepared[0][1])
        else:
            for name, blob in prepared:
                self.net.setInput(blob, name)
        return self.net.forward(self.output_names)

    def to_numpy(self, outputs):
        return [np.asarray(o) for o in outputs]


def in_graph_order(names: list[str], graph_outputs: list[str]) -> list[str]:
    """OpenCV lists output layers in its own order (seen: a face detector's two outputs swapped, so the row
    "disagreed" on shapes); the ONNX graph's output order when OpenCV's names are exactly those, else OpenCV's."""
    return list(graph_outputs) if sorted(names) == sorted(graph_outputs) else names


def onnx_output_names(path: str) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(path, load_external_data=False).graph.output]


def read_net(artifact: Artifact):
    import cv2

    if artifact.format == "onnx":
        return cv2.dnn.readNetFromONNX(artifact.path)
    reader = {"caffe": "readNetFromCaffe", "darknet": "readNetFromDarknet"}.get(artifact.format)
    if reader and not hasattr(cv2.dnn, reader):  # OpenCV 5 removed the Caffe and Darknet importers
        raise errors.CandidateFailure(errors.NOT_INSTALLED, f"OpenCV {cv2.__version__} has no {reader}: "
                                      "pip install 'opencv-python-headless>=4.10,<5'")
    if reader:
        return getattr(cv2.dnn, reader)(artifact.path, artifact.meta["weights"])
    raise ValueError(f"OpenCV DNN cannot read {artifact.format}")


def _read_or_prepare(artifact: Artifact):
    """(net, None) when OpenCV reads the graph as it is; else an ONNX graph it refused is prepared for it once
    (runtimes/opencv_input.py: static shapes, folded, BOOL constants and IsNaN rewritten; checked on ONNX Runtime
    against the given graph first) and (net, what was done) returned. The first error stays the reason if that fails."""
    import cv2

    try:
        return read_net(artifact), None
    except cv2.error as first:
        shapes = measured_shapes(artifact)
        if artifact.format != "onnx" or not shapes:
            raise
        from edgepick.runtimes.opencv_input import PreparationChanged, prepared_for_opencv

        try:
            data, record = prepared_for_opencv(artifact.path, shapes)
        except PreparationChanged as e:  # never used; OpenCV's refusal stays a load error, so the sweep's own
            # simplified retry (convert/static.py: the batch left dynamic, checked too) may still reach the model
            raise errors.CandidateFailure(errors.LOAD_ERROR, f"{_one_line(first)} (the graph prepared for OpenCV: "
                                          f"static shapes, onnxslim, BOOL constants cast, IsNaN rewritten, changed "
                                          f"the model, so it was not used: {e})") from None
        except Exception:  # the preparation itself could not run: OpenCV's own error is the root cause
            raise first from None
        try:
            return cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8)), record
        except cv2.error as second:
            raise RuntimeError(f"{_one_line(first)} (again on the graph prepared for OpenCV: {_one_line(second)})") from None


def _one_line(error: Exception) -> str:
    """OpenCV's messages put the failing node on the lines below the source location: the row's reason keeps one
    line, from the node on when one is named."""
    text = " ".join(str(error).split())
    return text[max(text.find("Node ["), 0):][:300]


class OpenCvDnn(Runtime):
    name = "opencv-dnn"
    formats = ("onnx", "caffe", "darknet")
    import_name = "cv2"
    distribution = "opencv-python-headless"
    extra = "opencv"
    thread_setting = "cv2.setNumThreads"
    description = "OpenCV DNN, OpenCV backend on the CPU target"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import cv2

        cv2.setNumThreads(threads)
        net, prepared = _read_or_prepare(artifact)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        names = artifact.meta.get("input_names")
        # DNN_TARGET_CPU computes in FP32 (DNN_TARGET_CPU_FP16 would be the reduced one); the target is set, not
        # queryable, so the row records the setting it was given.
        details = {"precision_used": "f32", "precision_source": "backend DNN_BACKEND_OPENCV, target DNN_TARGET_CPU "
                   "(FP32; DNN_TARGET_CPU_FP16 not used)", "shape_mode": "dynamic (shapes inferred per setInput)"}
        if prepared:
            details.update(shape_mode="static (the prepared graph's inputs are fixed)", prepared_graph=prepared)
        outputs = onnx_output_names(artifact.path) if artifact.format == "onnx" else None
        return _CvSession(net, names, details, outputs)
