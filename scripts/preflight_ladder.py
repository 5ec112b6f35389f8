#!/usr/bin/env python3
"""How a longer pilot narrows the pre-flight's interval, against what the first pilot said.

    python3 scripts/preflight_ladder.py BASE/report.json LONGER/report.json [...] \
        --actuals FULL/report.json

BASE is a pre-flight report (`--preflight-only` or `--preflight`) made with the default pilot;
each LONGER report is the same domains with a longer pilot (`preflight.pilot_share` raised, with
`preflight.max_share` above it). For every domain and pilot it prints the pilot's share of the
planned steps, the predicted test perplexity with its interval, the interval's standard deviation
(extrapolation and transfer, in nats) next to the one the BASE pilot's error model predicted for
a pilot of that length (`forecast::half_width_at`: the extrapolation error shrinks with the
forward area left to carry, the transfer error stays), whether the verdict is settled, the
settling share the pilot gave, and, with `--actuals` (a report with the full runs), the full
run's test perplexity and whether the verdict agrees with it.
"""

import argparse
import json
import math
import sys

from preflight_acceptance import same_call


def load(path):
    try:
        return json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: {e}")


def predicted_sd(base, share):
    """The interval's sd a pilot of `share` would have, by the BASE pilot's error model."""
    f = base["forecast"]
    own = base["pilot"]["steps"] / base["planned"]["steps"]
    k = share / own
    left = max(f["planned_area"] - f["pilot_area"], 0.0)
    shrink = min(max(f["planned_area"] - k * f["pilot_area"], 0.0) / left, 1.0) if left > 0 else 0.0
    return math.hypot(f["extrapolation_sd"] * shrink, base["transfer_sd"])


def settling(p):
    spread = p.get("spread") or {}
    if spread.get("settled", True):
        return "settled"
    longer = spread.get("longer_pilot")
    if spread.get("settling_share") is not None:
        return f"unsettled; settles at {100 * spread['settling_share']:.0f} %"
    if longer == "NotBeforeTheRun":
        return "unsettled; no shorter pilot settles it"
    if longer == "Unmeasured":
        return "unsettled; unmeasured"
    return "unsettled"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("longer", nargs="*")
    ap.add_argument("--actuals", help="a report with the full runs of the same domains")
    a = ap.parse_args()
    base = {p["name"]: p for p in load(a.base).get("preflight", [])}
    if not base:
        sys.exit(f"{a.base}: no pre-flight records")
    actual = {}
    if a.actuals:
        for d in load(a.actuals)["domains"]:
            if d.get("adapted"):
                actual[d["name"]] = (float(d["adapted"]["token_ppl"]),
                                     d.get("plain_decision") or d["verdict"]["decision"])
    reports = [(a.base, base)] + [(path, {p["name"]: p for p in load(path)["preflight"]})
                                  for path in a.longer]
    print("| domain | pilot steps / planned (share) | predicted test ppl [interval] | sd (nats): measured / the first pilot's model | verdict across the interval | actual | verdict agrees |")
    print("|---|---|---|---|---|---:|---|")
    for name in sorted(base):
        for path, recs in reports:
            p = recs.get(name)
            if p is None:
                continue
            share = p["pilot"]["steps"] / p["planned"]["steps"]
            f = p["forecast"]
            sd = math.hypot(f["extrapolation_sd"], p["transfer_sd"])
            pred, lo, hi = p["predicted_test_ppl"]
            act = actual.get(name)
            print(f"| {name} | {p['pilot']['steps']} / {p['planned']['steps']} ({100 * share:.0f} %) | "
                  f"{pred:.2f} [{lo:.2f}, {hi:.2f}] | {sd:.3f} / {predicted_sd(base[name], share):.3f} | "
                  f"{p['verdict']['decision']}, {settling(p)} | "
                  f"{'–' if act is None else f'{act[0]:.2f}'} | "
                  f"{'–' if act is None else ('yes' if same_call(p['verdict']['decision'], act[1]) else 'no')} |")


if __name__ == "__main__":
    main()
