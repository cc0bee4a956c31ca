"""The short default answer (report/summary.py): the pick, runner-ups "x.xx ± y times slower", one line per group of
rows that did not compete, where to see more; all of it inside 100 columns, nothing cut or ellipsized."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from edgepick.report.summary import WIDTH, print_summary, ratio, slower_text
from edgepick.select.decision import decide
from edgepick.store.result import Run

LONG_REASON = ("RuntimeError: " + "a very long converter traceback line that goes on " * 8).strip()


def _row(runtime: str, p50: float | None, *, variant: str = "fp32", batch: int = 1, threads: int = 2,
         status: str = "ok", reason_class: str | None = None, reason: str | None = None, half: float = 0.05) -> dict:
    """A row as the store gives it back; `half`: the median CI's half-width relative to p50."""
    lat = None if p50 is None else {"p50": p50, "p90": p50 * 1.2, "p99": p50 * 2, "cv": 0.1,
                                    "p50_ci95": [p50 * (1 - half), p50 * (1 + half)]}
    return {"key": f"{runtime}/{variant}/t{threads}/b{batch}", "runtime": runtime, "precision": "fp32",
            "threads": threads, "batch": batch, "status": status, "reason_class": reason_class, "reason": reason,
            "latency_ms": lat if status == "ok" else None, "throughput_per_s": None if p50 is None else batch * 1000 / p50,
            "peak_rss_mb": 100.0, "size_mb": 1.0, "accuracy": 0.98, "equivalence": {"max_abs_err": 1e-6, "cosine": 1.0}}


def _run(rows: list[dict], selection: dict | None = None, context: dict | None = None, **fingerprint) -> Run:
    request = {"selection": selection or {}, "reference_accuracy": 0.98}
    fp = {"cpu_model": "Intel(R) Xeon(R) Platinum 8480C Processor", "usable_cores": 2, **fingerprint}
    ctx = {"reference": "PyTorch 2.13.0+cpu eager FP32 (isolated worker)", "reference_accuracy": 0.98,
           "data": "built-in (edgepick.zoo.digits:eval_set)", **(context or {})}
    return Run("abc1234567", "digits-cnn", "0" * 64, request, fp, rows,
               decide(rows, request["selection"], 0.98, fleet=bool(ctx.get("devices"))), ctx)


def _render(run: Run, width: int = WIDTH) -> str:
    out = io.StringIO()
    print_summary(run, Console(file=out, width=width, color_system=None))
    return out.getvalue()


def _busy_run() -> Run:
    """Everything at once: long runtime names and reasons, every status, two batch sizes, 13 runtimes."""
    names = ["onnxruntime", "openvino", "torch-eager", "torch-compile", "torchscript", "executorch", "opencv-dnn",
             "ncnn", "tvm", "tensorflow", "litert", "keras-jax", "mxnet"]
    rows = []
    for i, name in enumerate(names):
        rows.append(_row(name, 0.01 * (1 + i * 0.4)))
        rows.append(_row(name, 0.05 * (1 + i * 0.3), batch=8))
    rows.append(_row("openvino", 0.02, variant="int8-static-per-channel-calibrated", half=0.5))
    rows += [_row("litert", None, batch=16, status="failed", reason_class="unsupported-shape", reason=LONG_REASON),
             _row("tvm", None, variant="bf16", status="failed", reason_class="not-installed",
                  reason="pip install 'edgepick[tvm]'"),
             _row("mxnet", 0.5, variant="fp16", status="disagrees", reason_class="disagrees", reason="cosine 0.91 < 0.999"),
             _row("ncnn", 0.9, variant="bf16", status="pruned", reason_class="probe",
                  reason="probe p50 3.1x the best; measure it with --exhaustive"),
             _row("tensorflow", 0.8, variant="bf16", status="pruned", reason_class="probe",
                  reason="probe p50 4.7x the best; measure it with --exhaustive")]
    compression = {"configs_tried": 1, "tolerance": {"text": "1%", "relative": True},
                   "fastest_within_tolerance": "openvino/int8-static-per-channel-calibrated/t2/b1"}
    return _run(rows, context={"compression": compression},
                cpu_model="AMD EPYC 9R14 96-Core Processor with a very long marketing name for the test")


@pytest.mark.parametrize("width", [WIDTH, 80])
def test_the_short_answer_fits_the_terminal_and_cuts_nothing(width):
    text = _render(_busy_run(), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, max(lines, key=len)
    assert "…" not in text and "..." not in text
    assert len(lines) < 40  # short: not one line per row
    flat = " ".join(text.split())  # wrapped lines joined back: every word is there, whole
    for name in ("onnxruntime", "mxnet", "keras-jax", "int8-static-per-channel-calibrated", "AMD EPYC 9R14"):
        assert name in flat
    assert "pip install 'edgepick[tvm]'" in flat  # a short shared reason is printed whole, markup-safe
    assert "fastest within --max-acc-drop 1%: openvino/int8-static-per-channel-calibrated/t2/b1" in flat
    assert LONG_REASON[:40] not in flat and "why: edgepick show abc1234567 --details" in flat  # left to --details, not cut


def test_the_answer_comes_first_and_says_where_to_see_more():
    text = _render(_busy_run())
    lines = text.splitlines()
    first_pick = next(i for i, line in enumerate(lines) if line.startswith("pick: "))
    assert first_pick <= 3 and lines[first_pick].startswith("pick: onnxruntime · fp32 · 2 threads · batch 1")
    assert "p50 0.01 ms (95% CI 0.0095–0.0105, order statistics of one process)" in text
    for more in ("edgepick show abc1234567 --wide", "edgepick show abc1234567 --details",
                 "edgepick report abc1234567 -o report.html"):
        assert more in text
    assert "┃" not in text and "max|err|" not in text  # the full table is `show --wide`


def test_runner_ups_are_hyperfine_style_with_the_cis_propagated():
    best, other = _row("onnxruntime", 1.0, half=0.1), _row("openvino", 2.0, half=0.1)
    r, err = ratio(other, best)
    assert r == pytest.approx(2.0) and err == pytest.approx(2.0 * (0.1**2 + 0.1**2) ** 0.5)
    assert slower_text(other, best) == "2.00 ± 0.28 times slower"
    assert slower_text(best, other) == "2.00 ± 0.28 times faster"
    text = _render(_run([best, other, _row("tvm", 1.05, half=0.1), _row("ncnn", 3.0), _row("mxnet", 4.0),
                         _row("tensorflow", 5.0)]))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    at = lines.index("tvm p50 1.05 ms 1.05 ± 0.15 times slower, tied")  # overlapping CIs: said so
    assert lines[at + 1:at + 4] == ["openvino p50 2 ms 2.00 ± 0.28 times slower",
                                    "ncnn p50 3 ms 3.00 ± 0.34 times slower",
                                    "+ 2 more, 4.00x to 5.00x slower: mxnet, tensorflow"]  # beyond three: one line


_GROUPS = ("pruned, probe", "disagrees", "failed, not-installed", "failed, unsupported-shape",
           "batch 8, compared for throughput, not latency")


def test_an_interleaved_runner_up_says_what_the_a_b_rounds_settled():
    best, close = _row("onnxruntime", 1.0, half=0.1), _row("openvino", 1.02, half=0.1)
    close["interleaved"] = {"a": best["key"], "b": close["key"], "rounds": 5, "b_wins": 0, "verdict": "a faster",
                           "sign_test_p": 0.0625, "median_ratio_b_over_a": 1.02}
    text = _render(_run([best, close]))
    assert "1.02 ± 0.14 times slower, interleaved: pick faster (0/5 rounds to this)" in " ".join(text.split())


def test_rows_that_did_not_compete_are_one_line_per_status_and_reason_class():
    text = _render(_busy_run())
    lines = text.splitlines()
    groups = [line for line in lines if line.split(" (")[0] in _GROUPS]
    assert [g.split(" (")[0] for g in groups] == ["pruned, probe", "disagrees", "failed, not-installed",
                                                      "failed, unsupported-shape",
                                                      "batch 8, compared for throughput, not latency"]
    assert "pruned, probe (2): ncnn bf16 b1, tensorflow bf16 b1" in text
    assert "  e.g. probe p50 3.1x the best; measure it with --exhaustive" in text  # two reasons: the first, as e.g.
    assert "batch 8, compared for throughput, not latency (13): onnxruntime, openvino," in text
    assert "most items/s: onnxruntime" in text


def test_an_unknown_status_gets_its_own_line():
    rows = [_row("onnxruntime", 1.0), _row("tvm", None, status="skipped", reason_class="history", reason="predicted slow")]
    text = _render(_run(rows))
    assert "skipped, history (1): tvm" in text and "  predicted slow" in text


def test_a_budget_says_the_selection_and_groups_rows_over_it():
    rows = [_row("onnxruntime", 1.0), _row("openvino", 1.5), _row("tvm", 3.0), _row("ncnn", 4.0)]
    text = _render(_run(rows, {"budget": "p50<=2ms"}))
    assert "selection: budget p50<=2ms; optimize latency" in text
    assert "over the budget, p50<=2ms (2): tvm, ncnn" in text
    assert "  openvino  p50 1.5 ms " in text
    nothing = _render(_run(rows, {"budget": "p50<=0.1ms"}))
    assert "no pick: nothing is feasible" in nothing and "over the budget, p50<=0.1ms (4)" in nothing


def test_a_fleet_run_prints_its_cross_device_table_inside_100_columns():
    rows = []
    for dev in ("pi5-kitchen", "pi5-garage", "qemu-arm64"):
        fp = {"arch": "aarch64", "cpu_model": "Cortex-A76", "usable_cores": 4, "device_cores": [0, 1, 2, 3]}
        if dev.startswith("qemu"):
            fp["emulated"] = "qemu-user"
        for row in (_row("onnxruntime", 1.0), _row("litert", 1.4), _row("executorch", 2.0)):
            rows.append({**row, "key": f"{row['key']}@{dev}", "device": {"name": dev, "fingerprint": fp}})
    devices = {d: {"fingerprint": {"arch": "aarch64", "cpu_model": "Cortex-A76", "device_cores": [0, 1, 2, 3],
                                   "device_memory_mb": 8000},
                   "pick": f"onnxruntime/fp32/t2/b1@{d}", "verdict": "onnxruntime/fp32/t2/b1: the fastest median"}
               for d in ("pi5-kitchen", "pi5-garage")}
    text = _render(_run(rows, context={"devices": devices}))
    assert max(len(line) for line in text.splitlines()) <= WIDTH and "…" not in text
    assert "pick on pi5-kitchen: onnxruntime/fp32/t2/b1" in text and "★ 1.0000" in text
    assert "emulated (latencies labelled, never picked): qemu-arm64" in text
