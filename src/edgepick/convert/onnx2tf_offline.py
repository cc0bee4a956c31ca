"""onnx2tf run offline: the data it would download, given from the eval inputs, and no connection out of its process.

onnx2tf runs the ONNX graph on sample inputs while it converts (to check and correct each op's layout). For a model
whose inputs are all images with 3 channels it fetches 20 COCO images from its GitHub release page
(calibration_image_sample_data_20x128x128x3_float32.npy) unless that file is in its working folder; without a
network the conversion dies ("ConnectionError ... github.com"), so an offline edge machine got no TensorFlow row.
edgepick promises offline operation, so:
- every input's sample (the eval inputs when the caller has them, else the signature's deterministic synthetic ones)
  goes to onnx2tf as its custom input data (-cind NAME FILE.npy, in the ONNX layout, which onnx2tf accepts as is);
- the image file onnx2tf looks for is written into its working folder, made from the same samples (channels-last,
  resized to 128 x 128 by nearest neighbour, repeated to 20), since it reads that file whatever -cind says;
- onnx2tf runs under `python -m edgepick.convert.onnx2tf_offline`, which refuses any connection that leaves the
  machine, so a future onnx2tf reaching out fails with a message naming the host instead of phoning out.
"""

from __future__ import annotations

import runpy
import socket
import sys
from pathlib import Path

IMAGE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # onnx2tf's name (utils/common_functions.py)
_LOCAL = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "")


def write_inputs(samples: dict, folder: Path, batch_axis: bool = True) -> tuple[list[str], dict]:
    """Write one .npy per input (its first row where the inputs have a batch axis) and onnx2tf's image file into
    folder. Returns (the -cind flags, a record)."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    flags = []
    for index, (name, array) in enumerate(samples.items()):
        path = folder / f"input_{index}.npy"
        np.save(path, np.ascontiguousarray(array[:1] if batch_axis and np.ndim(array) else array))
        flags += ["-cind", name, str(path.absolute())]
    images = _image_file(samples)
    if images is not None:
        np.save(folder / IMAGE_FILE, images)
    return flags, {"custom_input_data": sorted(samples), "image_file": images is not None}


def _image_file(samples: dict):
    """20 x 128 x 128 x 3 float32 from the first 3-channel 4-D input (channels-first or -last), else None."""
    import numpy as np

    for array in samples.values():
        array = np.asarray(array)
        if array.ndim != 4 or array.dtype.kind != "f":
            continue
        nhwc = array.transpose(0, 2, 3, 1) if array.shape[1] == 3 else array if array.shape[3] == 3 else None
        if nhwc is None:
            continue
        rows = np.arange(128) * nhwc.shape[1] // 128  # nearest neighbour onto onnx2tf's 128 x 128
        cols = np.arange(128) * nhwc.shape[2] // 128
        small = nhwc[:, rows][:, :, cols].astype(np.float32)
        return np.resize(small, (20, 128, 128, 3))  # the rows repeated: onnx2tf takes the first `batch` of them
    return None


class OfflineError(ConnectionRefusedError):
    pass


def _refuse(host) -> None:
    raise OfflineError(f"edgepick runs onnx2tf offline: it tried to reach {host}")


def block_network() -> None:
    """Refuse name lookups and connections to anything but this machine, for the rest of this process."""
    lookup, connect = socket.getaddrinfo, socket.socket.connect

    def guarded_lookup(host, *args, **kwargs):
        if host not in _LOCAL and not str(host).startswith("127."):
            _refuse(host)
        return lookup(host, *args, **kwargs)

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(address)
        return connect(sock, address)

    socket.getaddrinfo = guarded_lookup
    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = lambda sock, address: guarded_connect(sock, address) or 0


def _is_local(host) -> bool:
    return host in _LOCAL or str(host).startswith("127.") or str(host) == "::ffff:127.0.0.1"


def main(argv: list[str]) -> None:
    """`python -m edgepick.convert.onnx2tf_offline ARGS...` = `python -m onnx2tf ARGS...` with the network refused."""
    block_network()
    sys.argv = ["onnx2tf", *argv]
    runpy.run_module("onnx2tf", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
