"""OpenCV's DNN module: runs ONNX, and is edgepick's path for Caffe (.prototxt + .caffemodel) and Darknet (.cfg + .weights)."""

from __future__ import annotations

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _CvSession(Session):
    def __init__(self, net, input_names, details=None):
        self.details = details
        self.net = net
        self.input_names = input_names
        self.output_names = list(net.getUnconnectedOutLayersNames())

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
        net = read_net(artifact)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        names = artifact.meta.get("input_names")
        # DNN_TARGET_CPU computes in FP32 (DNN_TARGET_CPU_FP16 would be the reduced one); the target is set, not
        # queryable, so the row records the setting it was given.
        details = {"precision_used": "f32", "precision_source": "backend DNN_BACKEND_OPENCV, target DNN_TARGET_CPU "
                   "(FP32; DNN_TARGET_CPU_FP16 not used)", "shape_mode": "dynamic (shapes inferred per setInput)"}
        return _CvSession(net, names, details)
