"""Turns the raw figures scripts/bench.sh collected into BENCHMARKS.md (stdout).

Usage: bench_report.py DATA_DIR RUNS "PROFILES" "MACHINE"
"""
import json
import os
import statistics
import sys

data, runs, profiles, machine = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]


def read(name):
    path = os.path.join(data, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return float(f.read().strip())


def events(profile, run):
    path = os.path.join(data, f"events-{profile}-{run}.jsonl")
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def span(evs, component):
    """ms from the component's container start to its readiness (incl. its bootstrap)."""
    started = [e["t_ms"] for e in evs if e.get("event") == "step_finished"
               and e.get("component") == component and e.get("step") == "start"]
    ready = [e["t_ms"] for e in evs if e.get("event") == "component_ready" and e.get("component") == component]
    if not started or not ready:
        return None
    return ready[-1] - started[-1]


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def sec(t):
    return "–" if t is None else f"{t[0] / 1000:.1f} s ({t[1] / 1000:.1f}–{t[2] / 1000:.1f})"


rows, breakdown, rss = [], [], []
for p in profiles:
    up = [read(f"kcpenv-{p}-{r}") for r in range(1, runs + 1)]
    comp = [read(f"compose-{p}-{r}") for r in range(1, runs + 1)]
    floors, kcp_spans, agent_spans = [], [], []
    steps = {}
    for r in range(1, runs + 1):
        evs = events(p, r)
        k = span(evs, "kcp")
        a = span(evs, "syncagent")
        kcp_spans.append(k)
        agent_spans.append(a)
        floors.append(None if k is None else k + (a or 0))
        for e in evs:
            if e.get("event") == "step_finished":
                steps.setdefault((e["component"], e["step"]), []).append(e["millis"])
        rss_kib = read(f"rss-{p}-{r}")
        if rss_kib is not None:
            rss.append((p, rss_kib / 1024))
    su, sf, sc = stats(up), stats(floors), stats(comp)
    ratio_floor = f"{su[0] / sf[0]:.2f}" if su and sf else "–"
    ratio_compose = f"{su[0] / sc[0]:.2f}" if su and sc else "n/a"
    rows.append(f"| {p} | {sec(sf)} | {sec(su)} | {sec(sc) if sc else 'n/a (needs the bootstrap)'} | {ratio_floor} | {ratio_compose} |")
    sk, sa = stats(kcp_spans), stats(agent_spans)
    own = [u - f for u, f in zip(up, floors) if u is not None and f is not None]
    so = stats(own)
    parts = [f"kcp start→ready+bootstrap {sk[0] / 1000:.1f} s" if sk else None,
             f"syncagent start→ready+waits {sa[0] / 1000:.1f} s" if sa else None,
             f"kcpenv's own (up − floor) {so[0] / 1000:.2f} s" if so else None]
    biggest = sorted(((statistics.median(v), c, s) for (c, s), v in steps.items()), reverse=True)[:4]
    parts.append("largest steps: " + ", ".join(f"{c} {s} {m / 1000:.2f} s" for m, c, s in biggest))
    breakdown.append(f"- **{p}**: " + "; ".join(x for x in parts if x))

downs = stats([read(f"down-{p}-{r}") for p in profiles for r in range(1, runs + 1)])


def cli(name):
    path = os.path.join(data, f"cli-{name}")
    with open(path) as f:
        xs = [int(x) / 1000 for x in f.read().split()]
    return statistics.median(xs), min(xs), max(xs)


def ms(t):
    return f"{t[0]:.0f} ms ({t[1]:.0f}–{t[2]:.0f})"


noop, status, kpath = cli("noop-up"), cli("status"), cli("kubeconfig-path")
peak = max(rss, key=lambda x: x[1]) if rss else None

print("# Benchmarks")
print()
print(f"One run of `bash scripts/bench.sh --runs {runs}`: {machine}. Images present (nothing")
print("pulled); each measurement from nothing (`down --purge` / `compose down -v`), contenders")
print("alternating. Figures: median (min–max) of the runs.")
print()
print("| profile | floor (critical path) | kcpenv up | compose up --wait (+ kcp /readyz) | kcpenv / floor | kcpenv / compose |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(r)
print()
print("Floor: kcp's own time from its container's start to ready plus its bootstrap, plus the")
print("same for api-syncagent (which must follow kcp), from kcpenv's own event timings.")
print("Compose runs the file `kcpenv export compose --files-dir` writes; it cannot run the")
print("profiles with api-syncagent (the agent needs kcpenv's bootstrap) and its health checks")
print("can only see kcp's port, so its time runs until kcp's /readyz answers from the host.")
print()
print("Where the time goes (medians):")
print()
for b in breakdown:
    print(b)
print()
print("| command | median (min–max) | target |")
print("|---|---|---|")
print(f"| no-op `up` on a ready `{profiles[-1]}` environment | {ms(noop)} | < 300 ms |")
print(f"| `status` | {ms(status)} | < 200 ms |")
print(f"| `kubeconfig --path` | {ms(kpath)} | < 15 ms |")
if downs:
    print(f"| `down` (data kept), all profiles | {downs[0] / 1000:.2f} s ({downs[1] / 1000:.2f}–{downs[2] / 1000:.2f}) | < 5 s |")
if peak:
    print(f"| peak RSS of `up` (largest: {peak[0]}) | {peak[1]:.1f} MiB | < 40 MiB |")
