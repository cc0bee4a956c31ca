"""List the functions longer than a limit (default 60 lines, the developer guide's), longest first.

    python tools/long_functions.py [--limit 60] [paths...]     (default: src)
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def long_functions(paths: list[Path], limit: int) -> list[tuple[int, str, str]]:
    found = []
    for path in paths:
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            tree = ast.parse(file.read_text(), str(file))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > limit:
                        found.append((length, f"{file}:{node.lineno}", node.name))
    return sorted(found, reverse=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("src")])
    args = parser.parse_args()
    for length, where, name in long_functions(args.paths, args.limit):
        print(f"{length:4d}  {where}  {name}")
