"""torch.compile's row says whether its compile_s was a cold build or a hit in Inductor's on-disk caches from an
earlier process (the demo's 2 s against 14.5 s cold): a real worker, an empty cache, then the same graph again."""

from __future__ import annotations

MODEL = '''
import torch


class Small(torch.nn.Module):
    example_input_shape = (1, 3, 16, 16)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def small():
    return Small().eval()
'''


def _compiled(force: bool) -> dict:
    import edgepick

    run = edgepick.pick("small_models:small", runtimes=["torch-compile"], precisions="fp32", threads=[1], batches=[1],
                        exhaustive=True, force=force)
    row = run.rows[0]
    assert row["status"] == "ok", row.get("reason")
    return row


def test_the_row_says_whether_its_compile_was_cold_or_a_cache_hit(home, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(home.parent / "inductor"))  # empty: the workers inherit it
    (home.parent / "small_models.py").write_text(MODEL)
    from edgepick.report.rigor import compile_text

    row = _compiled(force=False)
    cold = row["runtime_details"]["inductor_cache"]
    assert cold["fx_graph"]["miss"] >= 1 and cold["fx_graph"]["hit"] == 0 and cold["aot_autograd"]["hit"] == 0, cold
    assert "(a cold build)" in compile_text(row)
    row = _compiled(force=True)  # a new run, a new worker process, the same graph and cache
    again = row["runtime_details"]["inductor_cache"]
    assert again["fx_graph"]["miss"] == 0 and again["fx_graph"]["hit"] + again["aot_autograd"]["hit"] >= 1, again
    assert "a hit in Inductor's cache from an earlier process" in compile_text(row)
