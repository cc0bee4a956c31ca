"""Is the artifact on disk still the model the run measured? Export and serve ask before shipping or loading it.

A run records where its artifact was, not a copy of it. The source model used as is (an ONNX file run by ONNX
Runtime, a .pt2 by torch-eager) stays at the user's path, so replacing that file after the run would ship or serve
another model under the old run's figures. Its content hash is in the run (model_hash): checked here. Converted
artifacts live under EDGEPICK_HOME/artifacts/<model hash>/, keyed by that same hash, so a changed source never
reaches them. A torch factory is re-imported: the weights it builds now are hashed the way the run hashed them.
"""

from __future__ import annotations

from pathlib import Path

from edgepick.core import paths
from edgepick.core.artifact import file_sha256
from edgepick.core.errors import UserError


def check_source_file(run, art: dict) -> None:
    """Refuse a source model file whose content differs from the one the run measured (model_hash)."""
    src = art.get("path")
    if not src or art.get("format") != run.request.get("input_format") or not Path(src).is_file():
        return
    if Path(src).absolute().is_relative_to(paths.home() / "artifacts"):
        return
    now = file_sha256(src)
    if now != run.model_hash:
        raise UserError(_changed(run, src, now))


def check_factory_module(run, module, factory: str) -> None:
    """Refuse a factory whose weights now differ from those the run measured (same hash as inputs/model.py)."""
    from edgepick.inputs.model import _state_hash

    now = _state_hash(module, factory)
    if now != run.model_hash:
        raise UserError(_changed(run, f"the model factory '{factory}'", now))


def _changed(run, what: str, now: str) -> str:
    return (f"{what} changed since run {run.run_id} measured it (SHA-256 {now[:12]}..., the run measured "
            f"{run.model_hash[:12]}...): its figures are not this model's; run the sweep again on the new model, or "
            "put the measured one back")
