#!/usr/bin/python3
"""Turns bench/compare's raw.jsonl into README.md (tables, goals) and PNG plots.

Usage: bench/report.py RAW_JSONL OUT_DIR. Each point is the median of its runs; a run that
failed (or lost clients) is reported as such, never averaged in silently.
"""

import json
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

NAMES = {"action_cable": "Action Cable (Redis adapter)", "anycable_rs": "anycable-rs", "ceiling": "raw Rust ceiling",
         "anycable_rs_redis": "anycable-rs, broadcasts through Redis",
         "anycable_rs_cluster": "anycable-rs, Puma cluster (2 workers), Redis",
         "bridge": "anycable-rs, no-op Ruby handler"}
PLOTTED = ["action_cable", "anycable_rs", "anycable_rs_redis", "anycable_rs_cluster", "ceiling"]


def load(path):
    points = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        points[(row["server"], row["requested_clients"])].append(row)
    return points


def median(rows, pick):
    values = [pick(r) for r in rows if "error" not in r and pick(r) is not None]
    return statistics.median(values) if values else None


def summarize(rows):
    ok = [r for r in rows if "error" not in r]
    deliveries = lambda r: r["delivery_ratio"] * (r["clients"] - 1) * r["broadcasts"]
    return {
        "runs": len(rows),
        "failed": len(rows) - len(ok),
        "errors": sorted({r["error"].splitlines()[-1] for r in rows if "error" in r}),
        "connect_failures": max((r["connect_failures"] for r in ok), default=None),
        "connect_s": median(ok, lambda r: r["connect_seconds"]),
        "rss_kib": median(ok, lambda r: r["rss_per_client_kib"]),
        "rss_total_mib": median(ok, lambda r: r["rss_after_kib"] / 1024 if r["rss_after_kib"] else None),
        "pss_kib": median(ok, lambda r: r.get("pss_per_client_kib")),
        "p50": median(ok, lambda r: r["latency_ms"] and r["latency_ms"]["p50"]),
        "p95": median(ok, lambda r: r["latency_ms"] and r["latency_ms"]["p95"]),
        "p99": median(ok, lambda r: r["latency_ms"] and r["latency_ms"]["p99"]),
        "max": median(ok, lambda r: r["latency_ms"] and r["latency_ms"]["max"]),
        "last": median(ok, lambda r: r["last_recipient_ms"] and r["last_recipient_ms"]["p50"]),
        "delivery": median(ok, lambda r: r["delivery_ratio"]),
        "cpu_per_m": median(ok, lambda r: r["server_cpu_seconds_broadcast"] / deliveries(r) * 1e6
                            if deliveries(r) else None),
        "rt": median(ok, lambda r: r["perform_round_trips_per_second"]),
        "seq_us": median(ok, lambda r: r.get("perform_sequential_us")),
    }


def fmt(value, digits=1):
    return "—" if value is None else f"{value:.{digits}f}"


def table(summary):
    lines = [
        "| server | N | runs ok | connect s | ΔRSS KiB/conn | ΔPSS KiB/conn | RSS MiB | p50 ms | p95 ms | p99 ms | max ms | last recipient ms | delivery | CPU s / 1M deliveries | perform rt/s (8 clients) | perform µs (1 client) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (server, n), s in sorted(summary.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(
            f"| {NAMES.get(server, server)} | {n} | {s['runs'] - s['failed']}/{s['runs']} | {fmt(s['connect_s'], 2)} | "
            f"{fmt(s['rss_kib'])} | {fmt(s['pss_kib'])} | {fmt(s['rss_total_mib'], 0)} | {fmt(s['p50'])} | {fmt(s['p95'])} | "
            f"{fmt(s['p99'])} | {fmt(s['max'])} | {fmt(s['last'])} | {fmt(s['delivery'], 3)} | {fmt(s['cpu_per_m'], 0)} | "
            f"{fmt(s['rt'], 0)} | {fmt(s['seq_us'], 0)} |"
        )
    failures = [f"- {NAMES.get(k[0], k[0])} at {k[1]}: {'; '.join(s['errors'])}" for k, s in sorted(summary.items()) if s["errors"]]
    return "\n".join(lines + ([""] + ["Failures:"] + failures if failures else []))


def goals(summary):
    sizes = sorted({n for server, n in summary if server == "anycable_rs"})
    get = lambda server, n, key: summary.get((server, n), {}).get(key)
    largest = sizes[-1]
    # "Complete": every run ok and every message delivered (Action Cable drops messages past a load).
    complete = lambda server, n: (summary.get((server, n)) or {}).get("failed") == 0 and (get(server, n, "delivery") or 0) >= 0.999
    both = [n for n in sizes if complete("action_cable", n) and complete("anycable_rs", n)]
    lines = ["| goal | bar | measured | met |", "|---|---|---|---|"]

    def row(goal, bar, value, met):
        lines.append(f"| {goal} | {bar} | {value} | {'yes' if met else ('no' if met is not None else 'not measured')} |")

    rss = get("anycable_rs", largest, "rss_kib")
    row(f"ΔRSS per idle subscribed connection, N={largest}", "≤ 8 KiB", fmt(rss), rss is not None and rss <= 8 if rss else None)
    ours, ceiling = get("anycable_rs", largest, "p99"), get("ceiling", largest, "p99")
    ratio = ours / ceiling if ours and ceiling else None
    row(f"p99 vs raw ceiling, N={largest}", "≤ 1.25 ×", fmt(ratio, 2) + " ×" if ratio else "—", ratio <= 1.25 if ratio else None)
    if both:
        n = both[-1]
        better = get("action_cable", n, "p99") / get("anycable_rs", n, "p99")
        row(f"p99 better than Action Cable, N={n} (largest both complete)", "≥ 20 ×", fmt(better) + " ×", better >= 20)
    cpu_ac, cpu_ours = get("action_cable", both[-1] if both else largest, "cpu_per_m"), get("anycable_rs", both[-1] if both else largest, "cpu_per_m")
    cpu = cpu_ac / cpu_ours if cpu_ac and cpu_ours else None
    row("server CPU per 1M deliveries, lower than Action Cable", "≥ 20 ×", fmt(cpu) + " ×" if cpu else "—", cpu >= 20 if cpu else None)
    heroku = 9000 if 9000 in sizes else None
    if heroku:
        mib, p99 = get("anycable_rs", heroku, "rss_total_mib"), get("anycable_rs", heroku, "p99")
        met = mib is not None and p99 is not None and mib < 512 and p99 <= 100 and complete("anycable_rs", heroku)
        row(f"N={heroku} + the test-app in one process: RSS, broadcast p99", "< 512 MiB, ≤ 100 ms",
            f"{fmt(mib, 0)} MiB, {fmt(p99)} ms (ceiling {fmt(get('ceiling', heroku, 'p99'))} ms)", met)
    rt_ac, rt_ours = get("action_cable", sizes[0], "rt"), get("anycable_rs", sizes[0], "rt")
    rt = rt_ours / rt_ac if rt_ac and rt_ours else None
    row(f"perform round trips per second vs Action Cable, 8 clients at once, N={sizes[0]}", "≥ 2 ×",
        fmt(rt, 2) + " ×" if rt else "—", rt >= 2 if rt else None)
    seq_ac, seq_ours = get("action_cable", sizes[0], "seq_us"), get("anycable_rs", sizes[0], "seq_us")
    if seq_ac and seq_ours:
        lines.append(f"| (the same, one client: round-trip latency) | — | {fmt(seq_ours, 0)} µs vs {fmt(seq_ac, 0)} µs = "
                     f"{fmt(seq_ac / seq_ours, 2)} × | — |")
    bridge, ceiling = get("bridge", sizes[0], "seq_us"), get("ceiling", sizes[0], "seq_us")
    overhead = bridge - ceiling if bridge and ceiling else None
    row(f"bridge overhead per call (no-op handler round trip − ceiling round trip, one client, N={sizes[0]})",
        "≤ 20 µs", fmt(overhead) + " µs" if overhead is not None else "—", overhead <= 20 if overhead is not None else None)
    return "\n".join(lines)


def plot(summary, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench/report.py: matplotlib missing (apt-get install python3-matplotlib): no plots", file=sys.stderr)
        return []
    made = []
    for key, label, name, log in [("p99", "broadcast p99 latency (ms)", "latency.png", True),
                                  ("rss_kib", "ΔRSS per connection (KiB)", "memory.png", False)]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for server in PLOTTED:
            points = sorted((n, s[key]) for (srv, n), s in summary.items() if srv == server and s[key] is not None)
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=NAMES[server])
                if key == "p99":
                    p50 = sorted((n, s["p50"]) for (srv, n), s in summary.items() if srv == server and s["p50"] is not None)
                    ax.plot([p[0] for p in p50], [p[1] for p in p50], linestyle=":", color=ax.lines[-1].get_color())
        ax.set_xlabel("subscribed clients")
        ax.set_ylabel(label + (" — dotted: p50" if key == "p99" else ""))
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(Path(out) / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def command_output(args, cwd=None):
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def setup(flags):
    """The exact command and what it ran on."""
    root = Path(__file__).resolve().parent.parent
    stack = command_output(["bundle", "exec", "ruby", "-e",
                            'require "rails"; require "puma/const"; '
                            'print "Ruby #{RUBY_VERSION}, Rails #{Rails.version}, Puma #{Puma::Const::PUMA_VERSION}"'],
                           cwd=root / "test-app")
    return [
        "## Setup", "",
        f"- Command: `bench/compare` (each run: `bench/run --clients N {flags}`; the no-op handler runs with "
        "`--broadcasts 0`)",
        f"- Machine: {command_output(['nproc'])} CPUs, Linux {platform.release()}; server pinned to CPU 0, "
        "load generator to CPU 1, open files raised to the hard limit; a fresh server per run",
        f"- {stack}; {command_output(['rustc', '--version'])}; "
        f"{command_output(['redis-server', '--version']).split(' sha=')[0]}",
        "- Test-app in production mode, single Puma (5 threads) unless noted; Action Cable uses its Redis adapter; "
        "anycable-rs uses the in-process bridge (4 Ruby worker threads) and one tokio worker per usable CPU",
        "",
    ]


def main():
    raw, out = sys.argv[1], Path(sys.argv[2])
    flags = sys.argv[3] if len(sys.argv) > 3 else ""
    summary = {key: summarize(rows) for key, rows in load(raw).items()}
    plots = plot(summary, out)
    text = ["# Benchmark results", "", "Produced by `bench/compare` (medians of the runs of each point).", "",
            *setup(flags), table(summary), "", "## Goals", "",
            "Why the goals that are missed are missed, with the measurements: [bench/README.md](../README.md).", "",
            goals(summary), ""]
    text += [f"![{p}]({p})" for p in plots]
    (out / "README.md").write_text("\n".join(text) + "\n")
    print((out / "README.md").read_text())


if __name__ == "__main__":
    main()
