#!/usr/bin/env python3
"""The pre-flight acceptance figures of a study report, split into the domains the predictor's
settings were fixed on and the held-out ones.

    python3 scripts/preflight_acceptance.py OUT/report.json --tuned wiki_music,arxiv_cs
    python3 scripts/preflight_acceptance.py PILOTS/report.json --actuals FULL/report.json

Reads `preflight_comparison` of a report written by `--preflight` (with the full runs) and
prints, as Markdown, for the held-out domains, the tuning domains and all of them: the median
|predicted - actual| / actual final test perplexity, the share of intervals covering the actual
value (and how wide they are: the median ratio of the interval's ends), Spearman's rho of
predicted and actual delta-ppl %, verdict agreement and the largest pilot compute share, each
next to its goal, and how many verdicts were settled across their interval (the same call at
every point of it) with the agreement among those.

`--actuals` scores the predictions of a `--preflight-only` report against the full runs of
another report of the same domains and settings (the full runs do not depend on the pilot: the
same seed trains the same runs), e.g. a changed pilot against recorded full runs. Standard
library only.
"""
import argparse
import json
import statistics
import sys

GOALS = {"error": 0.03, "coverage": 0.80, "spearman": 0.9, "agreement": 0.9, "share": 0.10}


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(xs, ys):
    if len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx > 0 and vy > 0 else None


def num(v):
    if isinstance(v, str):  # Odyssey's JSON writes NaN and infinities as strings
        return float(v.replace("Infinity", "inf"))
    return float(v)


def same_call(a, b):
    return (a == "dont_adapt") == (b == "dont_adapt")


def outcomes_against(report, actuals):
    """Outcomes of `report`'s pre-flight records against the full runs in `actuals`."""
    runs = {d["name"]: d for d in actuals.get("domains", [])}
    out = []
    for p in report.get("preflight", []):
        d = runs.get(p["name"])
        if d is None:
            continue
        pred, lo, hi = (num(v) for v in p["predicted_test_ppl"])
        actual = num(d["adapted"]["token_ppl"])
        base = num(d["base"]["token_ppl"])
        actual_decision = d.get("plain_decision") or d["verdict"]["decision"]
        spread = p.get("spread")
        out.append({
            "name": p["name"],
            "predicted_test_ppl": [pred, lo, hi],
            "actual_test_ppl": actual,
            "covered": lo <= actual <= hi,
            "abs_rel_error": abs(pred - actual) / actual,
            "delta_pct": [num(p["predicted_delta_pct"][0]), 100 * (actual / base - 1)],
            "decision": [p["verdict"]["decision"], actual_decision],
            "agree": same_call(p["verdict"]["decision"], actual_decision),
            **({} if spread is None else {"settled": bool(spread["settled"])}),
            "compute_share": num(p["compute_share"]),
            "total_share": num(p.get("total_share", "NaN")),
        })
    return out


def figures(outcomes):
    if not outcomes:
        return None
    known = [o for o in outcomes if "settled" in o]  # reports before the spread lack it
    settled = [o for o in known if o["settled"]]
    pred = [num(o["delta_pct"][0]) for o in outcomes]
    act = [num(o["delta_pct"][1]) for o in outcomes]
    return {
        "n": len(outcomes),
        "error": statistics.median(num(o["abs_rel_error"]) for o in outcomes),
        "coverage": sum(bool(o["covered"]) for o in outcomes) / len(outcomes),
        "spearman": spearman(pred, act),
        "agreement": sum(bool(o["agree"]) for o in outcomes) / len(outcomes),
        "settled": f"{len(settled)} / {len(known)}" if known else "–",
        "settled_agreement": (
            sum(bool(o["agree"]) for o in settled) / len(settled) if settled else None
        ),
        "share": max(num(o["compute_share"]) for o in outcomes),
        "total_share": max(num(o.get("total_share", "NaN")) for o in outcomes),
        "width": statistics.median(
            num(o["predicted_test_ppl"][2]) / num(o["predicted_test_ppl"][1]) for o in outcomes
        ),
    }


def cell(key, f):
    v = f[key]
    if v is None:
        return "– (fewer than 3)"
    goal = GOALS.get(key)
    if key in ("error", "share"):
        ok = v <= goal
        text = f"{100 * v:.2f} %" if key == "error" else f"{100 * v:.1f} %"
    else:
        ok = v >= goal
        text = f"{v:.2f}" if key == "spearman" else f"{100 * v:.0f} %"
    return f"{text} {'✓' if ok else '✗'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--tuned", default="", help="comma-separated domains the settings were fixed on")
    ap.add_argument("--actuals", help="a report whose full runs score the predictions of REPORT")

    def load(path):
        try:
            return json.load(open(path, encoding="utf-8"))
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: {e}")

    a = ap.parse_args()
    report = load(a.report)
    if a.actuals:
        outcomes = outcomes_against(report, load(a.actuals))
        if not outcomes:
            sys.exit(f"{a.actuals}: no full run of a domain that {a.report} has a pre-flight of")
        level = num(report["preflight"][0]["forecast"]["level"])
    else:
        comp = report.get("preflight_comparison")
        if not comp:
            sys.exit(f"{a.report}: no preflight_comparison (run the study with --preflight and the "
                     "full runs, or score it with --actuals)")
        outcomes = comp["outcomes"]
        level = num(comp["level"])
    tuned = {t for t in a.tuned.split(",") if t}
    unknown = tuned - {o["name"] for o in outcomes}
    if unknown:
        sys.exit(f"--tuned names domains not in the report: {', '.join(sorted(unknown))}")
    groups = [
        ("held out", [o for o in outcomes if o["name"] not in tuned]),
        ("tuning set", [o for o in outcomes if o["name"] in tuned]),
        ("all", outcomes),
    ]
    print("| domains | n | median error (goal ≤ 3 %) | coverage of the "
          f"{100 * level:.0f} % intervals (goal ≥ 80 %) | their median width (upper / lower end) | Spearman ρ of Δppl % (goal ≥ 0.9) "
          "| verdict agreement (goal ≥ 90 %) | largest pilot share of training compute (goal ≤ 10 %) "
          "| with the pilot's test pass | settled verdicts | their agreement |")
    print("|---|---:|---|---|---|---|---|---|---|---|---|")
    for name, group in groups:
        f = figures(group)
        if f is None:
            continue
        sa = f["settled_agreement"]
        settled_agreement = "–" if sa is None else f"{100 * sa:.0f} %"
        label = name if name == "all" else f"{name}: {', '.join(o['name'] for o in group)}"
        print(f"| {label} | {f['n']} | {cell('error', f)} | {cell('coverage', f)} | ×{f['width']:.2f} | "
              f"{cell('spearman', f)} | {cell('agreement', f)} | {cell('share', f)} | "
              f"{100 * f['total_share']:.1f} % | {f['settled']} | {settled_agreement} |")


if __name__ == "__main__":
    main()
