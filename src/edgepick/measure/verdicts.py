"""One rule across precisions: no row is judged more strictly than a lower-precision row of the same runtime.

An FP32 row is judged on closeness to the reference; a BF16/FP16 row on the task metric's drop (plan/precision.py),
because reduced precision moves outputs by design. Judged apart, the two rules can disagree the wrong way round: an
FP32 copy rejected at an error that a BF16 row of the same runtime exceeds and passes with. After the sweep, each such
pair is settled by the errors themselves:

- the FP32 row is at least as close to the reference as a passing reduced row (max abs error no larger, cosine and
  top-1 agreement no lower): it passes, and says which row it passed beside;
- otherwise the FP32 copy is further from the reference than rounding to BF16/FP16 moves it, so the copy itself is
  suspect, and the reduced rows built on it fail with the FP32 row's reason.
"""

from __future__ import annotations

from edgepick.core import errors

FP32 = "fp32"
PASSED = ("ok", "pruned")  # a pruned row agreed with the reference: the search only found it slower (sweep/racing.py)


def reconcile(rows: list[dict]) -> list[dict]:
    """Settle FP32-rejected / reduced-passed pairs in place; returns the rows changed."""
    changed: list[dict] = []
    for group in _by_runtime(rows).values():
        passing = [r for r in group if r.get("precision") != FP32 and r["status"] in PASSED and _figures(r)]
        if not passing:
            continue
        for fp32 in (r for r in group if r.get("precision") == FP32 and _rejected_on_closeness(r)):
            beside = next((r for r in passing if _at_least_as_close(fp32, r)), None)
            if beside is not None:
                _pass_beside(fp32, beside)
                changed.append(fp32)
            else:
                for reduced in (r for r in passing if r["status"] in PASSED):
                    _fail_with_twin(reduced, fp32)
                    changed.append(reduced)
    return changed


def _by_runtime(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Uncompressed rows of one runtime on one device: the same converted copy, run at different precisions."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if not row.get("compression"):
            groups.setdefault((row["runtime"], (row.get("device") or {}).get("name")), []).append(row)
    return groups


def _figures(row: dict) -> dict | None:
    eq = row.get("equivalence") or {}
    return eq if eq.get("max_abs_err") is not None and eq.get("cosine") is not None else None


def _rejected_on_closeness(row: dict) -> bool:
    """Disagreed on the error figures (not on output count or shape, which no precision excuses)."""
    return row["status"] == "disagrees" and row.get("reason_class") == errors.DISAGREES and _figures(row) is not None


def _at_least_as_close(fp32: dict, reduced: dict) -> bool:
    a, b = _figures(fp32), _figures(reduced)
    top1_ok = a.get("top1_agreement") is None or b.get("top1_agreement") is None or \
        a["top1_agreement"] >= b["top1_agreement"]
    return a["max_abs_err"] <= b["max_abs_err"] and a["cosine"] >= b["cosine"] and top1_ok


def _pass_beside(fp32: dict, reduced: dict) -> None:
    a, b = _figures(fp32), _figures(reduced)
    note = (f"passes beside {reduced['key']}, which passed with larger errors (max|err| {a['max_abs_err']:.2g} <= "
            f"{b['max_abs_err']:.2g}, cosine {a['cosine']:.5f} >= {b['cosine']:.5f}); the FP32 rule alone said: "
            f"{fp32['reason']}")
    fp32["status"], fp32["reason_class"], fp32["reason"] = "ok", None, None
    fp32.setdefault("notes", []).append(note)


def _fail_with_twin(reduced: dict, fp32: dict) -> None:
    reduced["status"], reduced["reason_class"] = "disagrees", errors.DISAGREES
    reduced["reason"] = (f"its FP32 copy {fp32['key']} is further from the reference than {reduced['precision']} "
                         f"rounding moves it ({fp32['reason']}): the copy, not the precision, differs")


def violations(rows: list[dict]) -> list[tuple[str, str]]:
    """(FP32 row, reduced row) pairs of one runtime where the FP32 row is rejected and the reduced row passes: what
    reconcile() leaves none of. The corpus benchmark checks every stored row with it."""
    found = []
    for group in _by_runtime(rows).values():
        passing = [r["key"] for r in group if r.get("precision") != FP32 and r["status"] in PASSED]
        found += [(r["key"], key) for r in group if r.get("precision") == FP32 and r["status"] == "disagrees"
                  for key in passing]
    return found
