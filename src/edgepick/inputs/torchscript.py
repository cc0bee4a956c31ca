"""TorchScript archives (torch.jit.save) as model inputs.

A TorchScript archive and a pickled module (torch.save) are both zip files and both often end in .pt, so the zip's
entries decide: torch.jit.save writes `<root>/code/` (the TorchScript source of every module) and constants.pkl;
torch.save writes neither. The archive's format is "torchscript": the torchscript runtime measures the file as given,
and the reference is the loaded ScriptModule, run in FP32 in the parent process.

Safety: torch.jit.load does not unpickle arbitrary Python classes the way torch.load does; its unpickler rebuilds
only tensors, containers and TorchScript types. It is still not a safe loader for a file of unknown origin: it
compiles and *runs* TorchScript code from the archive while loading (a scripted class's __setstate__), and that code
can call operators with side effects (torch.from_file reads any file the process can read; checked here with
torch 2.13). CVE-2025-32434 was exactly this path (torch.load(weights_only=True) handing a TorchScript archive to
the TorchScript loader). So an archive is loaded only with --trust-pickle, like a pickled module.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edgepick.core.artifact import Artifact, file_sha256
from edgepick.core.errors import UserError, first_line
from edgepick.inputs.signature import Signature


def is_torchscript_archive(path: Path) -> bool:
    """A zip whose entries include <root>/code/ (torch.jit.save); a torch.save pickle has data.pkl but no code/."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(len(parts) > 2 and parts[1] == "code" for parts in (n.split("/") for n in names))


def from_torchscript(path: Path, trust: bool):
    from edgepick.inputs.spec import ModelSpec

    if not trust:
        raise UserError(f"{path} is a TorchScript archive: torch.jit.load runs TorchScript code from the file while "
                        "loading it (which can read and write files). Pass --trust-pickle if you trust its source, or "
                        "give the model as ONNX or a torch.export .pt2")
    try:
        import torch
    except ImportError as e:
        raise UserError(f"{path} is a TorchScript archive; install PyTorch: pip install 'edgepick[torch]'") from e
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise UserError(f"{path} is a TorchScript archive torch.jit.load cannot read ({type(e).__name__}: "
                        f"{first_line(e, 200)}); re-save it with torch.jit.save") from e
    module.eval()
    arguments = module.forward.schema.arguments[1:]  # [0] is self
    other = [f"{a.name}: {a.type}" for a in arguments if str(a.type) != "Tensor"]
    if other:
        raise UserError(f"{path}: forward() takes non-tensor arguments ({', '.join(other)}); edgepick feeds tensors "
                        "only: wrap the module so every input is a Tensor and save it again")
    names = [a.name for a in arguments]
    artifact = Artifact("torchscript", str(path.absolute()), {"input_names": names, "trusted": True,
                                                               "weights_bytes": _weights_bytes(module)})
    # An archive records its inputs' names but not their shapes or dtypes: --input-shape gives them, in these names.
    return ModelSpec(path.stem, artifact, Signature([], declared_names=names), file_sha256(path), module=module)


def _weights_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))
