"""An export's manifest: the SHA-256 of every file, what was measured and where; optionally signed (model-signing).

infer.py (export/infer.py) checks the hashes before it loads anything, so a modified artifact is refused. The
signature (OpenSSF model-signing, an elliptic-curve key: works offline) covers manifest.json, which covers the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgepick import __version__
from edgepick.core.artifact import file_sha256
from edgepick.core.errors import UserError, first_line

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_MEASURED = ("key", "runtime", "precision", "threads", "batch", "latency_ms", "throughput_per_s", "peak_rss_mb",
             "size_mb", "equivalence", "accuracy", "cores", "memory_cap")


def write_manifest(run, row: dict, out: Path) -> dict:
    files = {p.name: file_sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}
    manifest = {"schema": "edgepick.export-manifest/1", "edgepick": __version__, "run_id": run.run_id,
                "model_hash": run.model_hash, "files": files,
                "measured": {k: row.get(k) for k in _MEASURED}, "fingerprint": run.fingerprint}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


def signing_available() -> bool:
    try:
        from model_signing import signing  # noqa: F401
    except ImportError:
        return False
    return True


def sign_manifest(out: Path, private_key: Path) -> None:
    if not signing_available():
        raise UserError("--sign-key needs the model-signing package: pip install 'edgepick[sign]' (model-signing, "
                        "pyopenssl); the export itself was written, unsigned")
    from model_signing import signing

    try:
        signing.Config().use_elliptic_key_signer(private_key=str(private_key)).sign(out / MANIFEST, out / SIGNATURE)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"cannot sign with {private_key}: {first_line(e)}"
                        " (give an unencrypted PEM elliptic-curve private key)") from e
