"""`edgepick export`: a candidate as a deployable folder.

    artifact(s)        the exact file(s) that were measured (a torch factory is saved as a torch.export .pt2)
    example_input.npz  the first eval inputs at the candidate's batch size
    infer.py           loads the artifact with the same runtime and thread setting, runs one input, prints outputs
                       and latency; --input/--output let a test feed inputs and read outputs back. A constant script
                       (export/infer.py): what to load comes from export.json, never from generated code
    export.json        runtime, artifact file name, threads, input names (data, read by infer.py)
    manifest.json      SHA-256 of every file + the measured figures and fingerprint; infer.py checks it before loading
    manifest.sig       with --sign-key: an OpenSSF model-signing signature of manifest.json
    requirements.txt   exact versions of what was measured
    README.md          the measured figures and the machine they were measured on
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgepick.core import paths
from edgepick.core.errors import UserError
from edgepick.export.integrity import check_factory_module, check_source_file
from edgepick.export.manifest import sign_manifest, write_manifest
from edgepick.report.columns import COLUMNS
from edgepick.store.result import incomplete_note

_DISTRIBUTIONS = {"onnxruntime": ["onnxruntime"], "openvino": ["openvino"], "torch-eager": ["torch"]}

_RUNTIMES = ("onnxruntime", "openvino", "torch-eager")  # the loaders in export/infer.py
_INFER_SOURCE = Path(__file__).with_name("infer.py")  # copied verbatim: no user text ever becomes code


def _ov_precision(row: dict) -> str:
    """OpenVINO's inference precision the row was measured with (its CPU default may be BF16: never left implicit)."""
    used = (row.get("runtime_details") or {}).get("precision_used")
    if used in ("f32", "bf16", "f16"):
        return used
    return {"bf16": "bf16", "fp16": "f16"}.get(row.get("precision"), "f32")


def export_candidate(run, key: str | None, out: Path, sign_key: Path | None = None) -> dict:
    row = _choose(run, key)
    if row["runtime"] not in _RUNTIMES:
        raise UserError(f"export knows onnxruntime, openvino and torch-eager; {row['runtime']} is not supported yet")
    inputs = _example_inputs(run, row["batch"])
    check_source_file(run, row.get("artifact") or {})  # a file replaced after the run: refused before any folder
    out = _new_folder(Path(out))
    try:
        artifact_name = _copy_artifact(run, row, out, inputs)
    except UserError:  # a factory that fails or changed: no folder without an artifact is left behind
        shutil.rmtree(out, ignore_errors=True)
        raise
    np.savez(out / "example_input.npz", **inputs)
    # What infer.py loads is data (a JSON side file), read at run time; the script itself is a constant.
    (out / "export.json").write_text(json.dumps({"runtime": row["runtime"], "artifact": artifact_name,
                                                 "threads": row["threads"], "input_names": list(inputs),
                                                 "key": row["key"], "ov_precision": _ov_precision(row),
                                                 "torch_bf16": row.get("precision") == "bf16"}, indent=2))
    shutil.copyfile(_INFER_SOURCE, out / "infer.py")
    (out / "requirements.txt").write_text(_requirements(run, row))
    (out / "README.md").write_text(_readme(run, row, artifact_name))
    (out / "candidate.json").write_text(json.dumps({k: v for k, v in row.items() if k != "latency_samples_ms"},
                                                   indent=2, default=str))
    write_manifest(run, row, out)
    if sign_key:
        sign_manifest(out, sign_key)
    return {"key": row["key"], "files": sorted(p.name for p in out.iterdir()), "signed": bool(sign_key),
            "warning": incomplete_note(run)}


def _new_folder(out: Path) -> Path:
    """The empty directory to export into, created here; a path that cannot be one is one line, not a traceback."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give a new directory to export into")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; give a new directory to export into")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file on the way (afile/sub), /proc, no permission
        raise UserError(f"cannot create the export directory {out}: {e.strerror or e}; give a writable new "
                        "directory") from None
    return out


def _choose(run, key: str | None) -> dict:
    if key is None:
        if run.picked is None:
            raise UserError(f"run {run.run_id} has no pick; name one with --candidate (see `edgepick show {run.run_id}`)")
        return run.picked
    row = next((r for r in run.rows if r["key"] == key), None)
    if row is None:
        raise UserError(f"no candidate '{key}' in run {run.run_id}; its keys: {', '.join(r['key'] for r in run.rows)}")
    if row["status"] != "ok":
        raise UserError(f"candidate {key} did not pass ({row['status']}: {row.get('reason')}); export one that did")
    return row


def _example_inputs(run, batch: int) -> dict[str, np.ndarray]:
    from edgepick.inputs.data import head, load_inputs_npz

    path = paths.home() / "runs" / run.run_id / "eval_inputs.npz"
    if not path.exists():
        raise UserError(f"the eval inputs of run {run.run_id} are gone ({path}); run the sweep again to export")
    samples = load_inputs_npz(path)
    return head(samples, batch, samples.whole_feeds)


def _copy_artifact(run, row: dict, out: Path, inputs: dict[str, np.ndarray]) -> str:
    art = row.get("artifact") or {}
    fmt, src = art.get("format"), art.get("path")
    if fmt == "torch-factory":  # the measured module, saved as a standalone ExportedProgram (no edgepick needed)
        return _save_exported(run, src, out, inputs)
    if not src or not Path(src).exists():
        raise UserError(f"the artifact of {row['key']} is gone ({src}); run the sweep again to rebuild it")
    src_path = Path(src)
    shutil.copy2(src_path, out / src_path.name)
    # IR weights (model.bin) and ONNX external data (model.onnx.data / model.onnx_data) sit beside the file.
    for sibling in {*src_path.parent.glob(src_path.stem + ".*"), *src_path.parent.glob(src_path.name + "*")}:
        if sibling != src_path and sibling.suffix in (".bin", ".data", ".onnx_data"):
            shutil.copy2(sibling, out / sibling.name)
    return src_path.name


def _save_exported(run, factory: str, out: Path, inputs: dict[str, np.ndarray]) -> str:
    import os

    import torch

    from edgepick.core.artifact import Artifact
    from edgepick.runtimes.torch_eager import load_torch_module

    try:  # a user factory is imported the way the sweep did: relative to the working directory
        module = load_torch_module(Artifact("torch-factory", factory, {"sys_path": os.getcwd()}))
    except ImportError as e:
        raise UserError(f"cannot import the model factory '{factory}' ({e}); run export from the directory the run "
                        "was made in") from e
    except (Exception, SystemExit) as e:  # the user's factory failed this time: one line, not a traceback
        from edgepick.inputs.usercode import user_code_failure

        raise UserError(f"the model factory '{factory}' failed: {user_code_failure(e)}") from e
    check_factory_module(run, module, factory)
    example = tuple(torch.from_numpy(v) for v in inputs.values())
    program = torch.export.export(module, example)
    torch.export.save(program, str(out / "model.pt2"))
    return "model.pt2"


def _requirements(run, row: dict) -> str:
    versions = run.fingerprint.get("versions") or {}
    lines = [f"# exact versions edgepick measured {row['key']} with (run {run.run_id})"]
    for dist in ["numpy", *_DISTRIBUTIONS[row["runtime"]]]:
        version = versions.get(dist) or _installed(dist)
        if dist == "torch":
            lines.append("--extra-index-url https://download.pytorch.org/whl/cpu  # the CPU-only wheel")
            version = (version or "2.13.0").split("+")[0]
        lines.append(f"{dist}=={version}" if version else f"{dist}  # version unknown")
    return "\n".join(lines) + "\n"


def _installed(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _readme(run, row: dict, artifact_name: str) -> str:
    fp = run.fingerprint
    lines = [f"# {run.model_name}: {row['key']}", "",
             f"Exported by edgepick from run `{run.run_id}`; model hash `{run.model_hash[:16]}`.", "",
             "```", "pip install -r requirements.txt", "python infer.py            # one input, prints outputs and latency",
             "python infer.py --input my.npz --output out.npz", "```", "",
             f"Artifact: `{artifact_name}` ({(row.get('artifact') or {}).get('format')}); "
             f"runtime {row['runtime']}, {row['precision']}, {row['threads']} thread(s), batch {row['batch']}.", "",
             "## Measured figures", "", "| metric | value |", "|---|---|"]
    for name, fn in COLUMNS:
        lines.append(f"| {name.replace('|', chr(92) + '|')} | {fn(row).replace('|', chr(92) + '|')} |")
    eq = row.get("equivalence") or {}
    lines += [f"| cosine vs reference | {eq.get('cosine')} |", f"| top-1 agreement | {eq.get('top1_agreement')} |", "",
              f"Measured on {fp.get('cpu_model')} ({fp.get('usable_cores')} usable cores, {fp.get('os')}), "
              f"Python {fp.get('python')}, pinned to cores {row.get('cores')}."]
    if row["key"] in run.reasons:
        lines += ["", f"Not the run's pick: {run.reasons[row['key']]}"]
    elif run.picked and run.picked["key"] == row["key"]:
        lines += ["", "This is the run's pick."]
    if incomplete_note(run):  # an interrupted run's pick is among the rows measured before it stopped
        lines += ["", f"**Warning:** {incomplete_note(run)}"]
    return "\n".join(lines) + "\n"
