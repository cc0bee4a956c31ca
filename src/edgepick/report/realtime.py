"""Text and table columns for a row's real-time record (worker/frameloop.py), shared by the terminal and Markdown."""

from __future__ import annotations


def _ms(v) -> str:
    return "-" if v is None else (f"{v:.3g}" if v < 10 else f"{v:.1f}")


def shares_text(rt: dict) -> str:
    sh = rt.get("shares") or {}
    order = sorted(sh.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v * 100:.0f}%" for k, v in order)


def realtime_lines(row: dict) -> list[str]:
    rt = row.get("realtime")
    if not rt:
        return []
    lines = []
    if rt.get("error"):
        lines.append(f"realtime: {rt['error']}")
    elif rt.get("processed"):
        head = (f"realtime @ {rt['fps']:g} FPS (deadline {rt['deadline_ms']:.3g} ms): miss {rt['miss_rate'] * 100:.1f}% "
                f"({rt['late']} late + {rt['dropped']} dropped of {rt['frames']} frames)" if rt.get("fps")
                else f"frame loop, back to back ({rt['processed']} frames)")
        stages = rt.get("stages") or {}
        frame = sum((s or {}).get("mean_ms") or 0 for s in stages.values())
        lines.append(f"{head}; e2e p50 {_ms(rt['p50_e2e_ms'])} / p99 {_ms(rt['p99_e2e_ms'])} / max "
                     f"{_ms(rt['max_e2e_ms'])} ms, jitter {_ms(rt['jitter_ms'])} ms")
        lines.append(f"  frame {_ms(frame)} ms = {shares_text(rt)}; pre {rt.get('preprocess') or 'none'}, "
                     f"post {rt.get('postprocess') or 'none'}; inputs: {rt.get('inputs')}")
        if rt.get("drift"):
            d = rt["drift"]
            lines.append(f"  sustained {rt['wall_s']:.0f} s: {'DRIFT' if d['flag'] else 'no drift'} ({d['why']}); "
                         f"cpu clock {rt['sensors']['cpu_freq']}; thermal {rt['sensors']['thermal']}")
    bg = rt.get("background")
    if bg:
        rates = ", ".join("-" if p is None else f"{p:.1f}" for p in bg["passes_per_s"])
        lines.append(f"  background load: {bg['cores']} core(s) pinned to {bg['pinned_to']} ({bg['placement']}); "
                     f"{bg['kind']}; passes/s {rates}")
    return lines


def realtime_columns(rows: list[dict]) -> list[tuple]:
    """Extra table columns when any row has a frame loop (nothing otherwise, so the usual table is unchanged)."""
    if not any((r.get("realtime") or {}).get("processed") for r in rows):
        return []

    def rt(r):
        return r.get("realtime") or {}

    def miss(r):
        v = rt(r).get("miss_rate")
        return "-" if v is None else f"{v * 100:.1f}"

    return [("e2e p99 ms", lambda r: _ms(rt(r).get("p99_e2e_ms"))), ("miss %", miss),
            ("model %", lambda r: "-" if not rt(r).get("shares") else f"{rt(r)['shares']['model'] * 100:.0f}")]
