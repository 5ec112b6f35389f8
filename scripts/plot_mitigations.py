#!/usr/bin/env python3
"""Plot the mitigation variants of several study reports against the learning rate of their
plain run (the stress runs of docs/mitigations.md).

    python3 scripts/plot_mitigations.py OUT.svg REPORT.json [REPORT.json ...]

One row per domain, two panels: the test delta-ppl % on all tokens, and the general corpus's
delta-ppl % (forgetting), for the plain run and every retrained variant (token mask, lower
learning rate, replay). Standard library only; writes the SVG atomically.
"""
import json
import math
import os
import sys

COLORS = {"plain": "#222222", "token_mask": "#d62728", "lower_lr": "#1f77b4", "replay": "#2ca02c"}
W, H, ML, MR, MT, MB = 360, 230, 64, 16, 34, 44


def num(v):
    if isinstance(v, str):
        return float(v.replace("Infinity", "inf"))
    return float(v)


def load(paths):
    rows = {}  # domain -> kind -> [(lr, delta, general)]
    for p in paths:
        try:
            r = json.load(open(p, encoding="utf-8"))
        except (OSError, ValueError) as e:
            sys.exit(f"{p}: {e}")
        lr = num(r["config"]["training"]["lr"])
        for d in r["domains"]:
            m = d.get("mitigations")
            if not m:
                continue
            runs = rows.setdefault(d["name"], {})
            general = d.get("forgetting") or {}
            runs.setdefault("plain", []).append(
                (lr, num(d["adapted"]["token_ppl"]) / num(d["base"]["token_ppl"]) * 100 - 100,
                 num(general.get("delta_ppl_pct", "NaN"))))
            for v in m["variants"]:
                f = v.get("forgetting") or {}
                runs.setdefault(v["kind"], []).append(
                    (lr, num(v["delta_ppl_pct"]), num(f.get("delta_ppl_pct", "NaN"))))
    if not rows:
        sys.exit("no report holds retrained mitigations")
    return rows


def panel(x0, y0, title, series, col):
    pts = [(lr, vals[col]) for runs in series.values() for lr, *vals in
           [(p[0], p[1], p[2]) for p in runs] if math.isfinite(vals[col])]
    if not pts:
        return ""
    lx = [math.log10(lr) for lr, _ in pts]
    ys = [y for _, y in pts] + [0.0]
    xmin, xmax = min(lx) - 0.15, max(lx) + 0.15
    ymin, ymax = min(ys), max(ys)
    pad = 0.08 * (ymax - ymin or 1.0)
    ymin, ymax = ymin - pad, ymax + pad
    pw, ph = W - ML - MR, H - MT - MB
    sx = lambda v: x0 + ML + (math.log10(v) - xmin) / (xmax - xmin) * pw
    sy = lambda v: y0 + MT + (ymax - v) / (ymax - ymin) * ph
    out = [f'<text x="{x0 + ML + pw / 2}" y="{y0 + 20}" text-anchor="middle" font-size="13">{title}</text>',
           f'<rect x="{x0 + ML}" y="{y0 + MT}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
           f'<line x1="{x0 + ML}" x2="{x0 + ML + pw}" y1="{sy(0)}" y2="{sy(0)}" stroke="#bbb" stroke-dasharray="4 3"/>']
    for lr in sorted({lr for lr, _ in pts}):
        out.append(f'<text x="{sx(lr)}" y="{y0 + MT + ph + 16}" text-anchor="middle" font-size="11">{lr:g}</text>')
    out.append(f'<text x="{x0 + ML + pw / 2}" y="{y0 + H - 8}" text-anchor="middle" font-size="11">learning rate of the plain run</text>')
    for k in range(5):
        v = ymin + k * (ymax - ymin) / 4
        out.append(f'<text x="{x0 + ML - 6}" y="{sy(v) + 4}" text-anchor="end" font-size="10">{v:+.0f} %</text>')
    for kind, runs in series.items():
        pl = sorted((lr, vals[col]) for lr, *vals in [(p[0], p[1], p[2]) for p in runs] if math.isfinite(vals[col]))
        if not pl:
            continue
        c = COLORS.get(kind, "#777")
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(lr):.1f},{sy(y):.1f}" for i, (lr, y) in enumerate(pl))
        out.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for lr, y in pl:
            out.append(f'<circle cx="{sx(lr):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{c}"/>')
    return "\n".join(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    rows = load(paths)
    height = len(rows) * (H + 10) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{height}" '
             f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>']
    for i, (domain, series) in enumerate(sorted(rows.items())):
        y0 = i * (H + 10)
        parts.append(panel(0, y0, f"{domain}: test Δppl, all tokens", series, 0))
        parts.append(panel(W, y0, f"{domain}: general corpus Δppl (forgetting)", series, 1))
    x = 20
    for kind, c in COLORS.items():
        parts.append(f'<rect x="{x}" y="{height - 24}" width="14" height="4" fill="{c}"/>'
                     f'<text x="{x + 20}" y="{height - 18}" font-size="12">{kind}</text>')
        x += 130
    parts.append("</svg>\n")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    os.replace(tmp, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
