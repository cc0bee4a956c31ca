"""The compression passes, one module per pass (each a Compressor, compress/base.py), registered by name in
core/registry.py's COMPRESSORS; onnx_util.py and torch_util.py hold what the ONNX-side and torch-side passes share."""
