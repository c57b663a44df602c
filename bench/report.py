"""Figures of a benchmark run: merging client statistics, ratios to the Node peer, outputs."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from pathlib import Path

STRICT_P99_MS = 100.0
SATURATED_P99_MS = 1000.0
PEER = "node-peer"


def merge_stats(parts: list[dict]) -> dict:
    """Add up the ``stats`` answers of several client processes of one run."""
    hist: dict[int, float] = {}
    for part in parts:
        for bucket, count in part["hist"].items():
            hist[int(bucket)] = hist.get(int(bucket), 0) + count
    bins = max((len(p["bin_count"]) for p in parts), default=0)
    # Client processes started their bins at slightly different times: align on the earliest.
    start = min(p["start_ns"] for p in parts)
    bin_ns = parts[0]["bin_ms"] * 1e6
    bin_count = [0] * (bins + 1)
    bin_max = [0.0] * (bins + 1)
    for part in parts:
        shift = round((part["start_ns"] - start) / bin_ns)
        for i, (n, worst) in enumerate(zip(part["bin_count"], part["bin_max_ms"], strict=True)):
            j = min(bins, i + shift)
            bin_count[j] += n
            bin_max[j] = max(bin_max[j], worst)
    firsts = [p["first_recv_ns"] for p in parts if p["first_recv_ns"]]
    return {
        "clients": sum(p["clients"] for p in parts),
        "connected": sum(p["connected"] for p in parts),
        "received": sum(p["received"] for p in parts),
        "duplicates": sum(p["duplicates"] for p in parts),
        "out_of_order": sum(p["out_of_order"] for p in parts),
        "disconnects": sum(p["disconnects"] for p in parts),
        "disconnect_ns": sorted(t for p in parts for t in p["disconnect_ns"]),
        "disconnect_reasons": dict(
            sum((Counter(p["disconnect_reasons"]) for p in parts), Counter())
        ),
        "min_per_client": min(p["min_per_client"] for p in parts),
        "clients_without_events": sum(p["clients_without_events"] for p in parts),
        "max_ms": max(p["max_ms"] for p in parts),
        "max_ping_gap_ms": max(p.get("max_ping_gap_ms", 0) for p in parts),
        "recovered": sum(p.get("recovered", 0) for p in parts),
        "missed": sum(p.get("missed", 0) for p in parts),
        "recovered_last_ns": max(p.get("recovered_last_ns", 0) for p in parts),
        "first_recv_ns": min(firsts) if firsts else 0,
        "last_recv_ns": max(p["last_recv_ns"] for p in parts),
        "start_ns": start,
        "bin_ms": parts[0]["bin_ms"],
        "bin_count": bin_count,
        "bin_max_ms": bin_max,
        "hist": hist,
    }


def percentile(hist: dict[int, float], q: float) -> float | None:
    """The ``q`` quantile (ms) of a 1%-log-bucket histogram of microseconds."""
    total = sum(hist.values())
    if not total:
        return None
    target = math.ceil(total * q)
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= target:
            return 1.01 ** (bucket + 0.5) / 1000
    return None


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted ``values`` (nearest rank); None when there are none."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(len(values) * q) - 1))]


def recovery_seconds(merged: dict, overload_end_ns: int, limit_ms: float = STRICT_P99_MS):
    """Seconds from the end of an overload until every later bin's worst latency <= limit."""
    bin_ns = merged["bin_ms"] * 1e6
    first = max(0, int((overload_end_ns - merged["start_ns"]) // bin_ns))
    counts, worst = merged["bin_count"], merged["bin_max_ms"]
    last_bad = None
    for i in range(first, len(counts)):
        if counts[i] and worst[i] > limit_ms:
            last_bad = i
    if last_bad is None:
        return 0.0
    if last_bad >= len(counts) - 2:
        return None  # still over the limit when the run ended
    return round((merged["start_ns"] + (last_bad + 1) * bin_ns - overload_end_ns) / 1e9, 2)


def is_strict(row: dict) -> bool:
    """100% delivered, no duplicates, p99 within the limit."""
    return (
        row["fraction"] >= 1.0
        and row["duplicates"] == 0
        and row["p99_ms"] is not None
        and row["p99_ms"] <= STRICT_P99_MS
    )


def is_saturated(row: dict) -> bool:
    """Past the knee: events lost or queued for seconds; higher steps only take longer."""
    return row["fraction"] < 0.99 or row["p99_ms"] is None or row["p99_ms"] > SATURATED_P99_MS


def strict_rate(rows: list[dict]) -> float:
    """The highest delivered msgs/s among the strict steps (0 when none is)."""
    return max((r["delivered_per_s"] for r in rows if is_strict(r)), default=0.0)


def cpu_us_per_msg(rows: list[dict], clients: int, rate: float = 20_000) -> float | None:
    """Gateway CPU (µs) per delivered message at the step whose target rate is nearest ``rate``."""
    if not rows:
        return None
    row = min(rows, key=lambda r: abs(r["events_per_s"] * clients - rate))
    if not row["delivered_per_s"] or row["cpu_percent"] is None:
        return None
    return row["cpu_percent"] / 100 * 1e6 / row["delivered_per_s"]


def _fmt(value, digits=1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cores(busy: list[float] | None) -> str:
    return " / ".join(f"{b:.0f}" for b in busy) if busy else "–"


def _ratio(value, peer) -> str:
    if value is None or not peer:
        return ""
    return f" ({value / peer:.2f}×)"


def _summary(config: dict) -> dict:
    """The figures of one sweep: strict rate, connect time, memory, CPU."""
    rows = config["steps"]
    strict = [r for r in rows if is_strict(r)]
    best = max(strict, key=lambda r: r["delivered_per_s"]) if strict else None
    return {
        "gateway": config["gateway"],
        "kind": config["kind"],
        "clients": config["clients"],
        "strict_per_s": strict_rate(rows),
        "max_delivered_per_s": max((r["delivered_per_s"] for r in rows), default=0.0),
        "p99_at_strict_ms": best["p99_ms"] if best else None,
        "cpu_at_strict": best["cpu_percent"] if best else None,
        "cpu_us_per_msg_20k": cpu_us_per_msg(rows, config["clients"]),
        "connect_s": config["connect_s"],
        "idle_kb_per_conn": config["idle_kb_per_conn"],
        "idle_rss_mb": config["idle_rss_mb"],
    }


def _median_of_rounds(rounds: list[dict]) -> dict:
    """One summary for the rounds (``--rounds``) of a configuration.

    The strict rate, and the p99 and CPU at it, are those of the median round (the lower
    one of an even count): a rate that was really measured, with its own latency. Every
    other figure is the median of the rounds'. ``strict_rounds`` keeps each round's.
    """
    middle = sorted(rounds, key=lambda s: s["strict_per_s"])[(len(rounds) - 1) // 2]
    line = dict(middle)
    for key in ("max_delivered_per_s", "cpu_us_per_msg_20k", "connect_s", "idle_kb_per_conn"):
        values = [s[key] for s in rounds if s[key] is not None]
        line[key] = statistics.median(values) if values else None
    line["idle_rss_mb"] = statistics.median(s["idle_rss_mb"] for s in rounds)
    line["strict_rounds"] = [s["strict_per_s"] for s in rounds]
    return line


def summaries(results: dict) -> list[dict]:
    """One line per (gateway, kind, clients), over all its rounds, in the order first run."""
    rounds: dict[tuple, list[dict]] = {}
    for config in results["configs"]:
        key = (config["gateway"], config["kind"], config["clients"])
        rounds.setdefault(key, []).append(_summary(config))
    return [_median_of_rounds(r) for r in rounds.values()]


def summary_of(results: dict, gateway: str, kind: str, clients: int) -> dict | None:
    """The summary line of one configuration, or None if it was not swept."""
    return next(
        (
            s
            for s in summaries(results)
            if (s["gateway"], s["kind"], s["clients"]) == (gateway, kind, clients)
        ),
        None,
    )


def _per_round(line: dict, peer: dict) -> str:
    """Each round's strict rate, and its ratio to the peer's in the same round."""
    ours, theirs = line["strict_rounds"], peer.get("strict_rounds") or []
    rates = " / ".join(_fmt(r, 0) for r in ours)
    if line is peer or len(ours) != len(theirs) or not all(theirs):
        return rates  # no round of the peer's to pair each with
    ratios = " / ".join(f"{a / b:.2f}" for a, b in zip(ours, theirs, strict=True))
    return f"{rates} ({ratios}×)"


def markdown(results: dict) -> str:
    """The run as Markdown: a summary with ratios to the peer, then every step."""
    out = [f"# Gateway benchmark {results['started']}", "", results["machine"], ""]
    lines = summaries(results)
    peers = {(s["kind"], s["clients"]): s for s in lines if s["gateway"] == PEER}
    rounds = max((len(s["strict_rounds"]) for s in lines), default=1)
    out += [
        "Ratios in parentheses are to the Node peer with the same client kind and count. "
        f"Strict = highest step with 100% delivered, no duplicates and p99 <= {STRICT_P99_MS:g} ms "
        "(delivered messages/s summed over clients).",
    ]
    if rounds > 1:
        out += [
            "",
            f"Each configuration was swept in {rounds} rounds, taking turns with the peer "
            "(round by round, who goes first alternates). The strict rate is the median "
            "round's; the other figures are medians of the rounds. The per-round column "
            "gives each round's strict rate and, in parentheses, its ratio to the peer's in "
            "the same round.",
        ]
    out += [
        "",
        "| gateway | client | C | strict msg/s "
        + ("| strict msg/s per round " if rounds > 1 else "")
        + "| max delivered msg/s | p99 at strict (ms) "
        "| CPU% at strict | CPU µs/msg at 20k msg/s | connect C (s) | idle KB/conn "
        "| idle RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if rounds > 1 else ""),
    ]
    for s in lines:
        p = peers.get((s["kind"], s["clients"]), {})
        out.append(
            f"| {s['gateway']} | {s['kind']} | {s['clients']} "
            f"| {_fmt(s['strict_per_s'], 0)}{_ratio(s['strict_per_s'], p.get('strict_per_s'))} "
            + (f"| {_per_round(s, p)} " if rounds > 1 else "")
            + f"| {_fmt(s['max_delivered_per_s'], 0)}"
            f"{_ratio(s['max_delivered_per_s'], p.get('max_delivered_per_s'))} "
            f"| {_fmt(s['p99_at_strict_ms'])} | {_fmt(s['cpu_at_strict'], 0)} "
            f"| {_fmt(s['cpu_us_per_msg_20k'])}"
            f"{_ratio(s['cpu_us_per_msg_20k'], p.get('cpu_us_per_msg_20k'))} "
            f"| {_fmt(s['connect_s'], 2)}{_ratio(s['connect_s'], p.get('connect_s'))} "
            f"| {_fmt(s['idle_kb_per_conn'])}"
            f"{_ratio(s['idle_kb_per_conn'], p.get('idle_kb_per_conn'))} "
            f"| {_fmt(s['idle_rss_mb'])} |"
        )
    out += [
        "",
        "## Every step",
        "",
        "| gateway | client | C | events/s | delivered msg/s | delivered | p50 ms | p99 ms "
        "| max ms | gw CPU% | gw RSS MB | client CPU% | cores busy % | dup | ooo | disc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in results["configs"]:
        name = config["gateway"] + (f" #{config['round']}" if "round" in config else "")
        for r in config["steps"]:
            out.append(
                f"| {name} | {config['kind']} | {config['clients']} "
                f"| {_fmt(r['events_per_s'])} | {_fmt(r['delivered_per_s'], 0)} "
                f"| {r['fraction']:.4f} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} "
                f"| {_fmt(r['max_ms'], 1)} | {_fmt(r['cpu_percent'], 0)} | {_fmt(r['rss_mb'])} "
                f"| {_fmt(r['client_cpu_percent'], 0)} | {_cores(r.get('core_busy_percent'))} "
                f"| {r['duplicates']} | {r['out_of_order']} | {r['disconnects']} |"
            )
    for name, scenario in results.get("scenarios", {}).items():
        out += [
            "",
            f"## Scenario: {name}",
            "",
            "```json",
            json.dumps(scenario, indent=1, default=str),
            "```",
        ]
    return "\n".join(out) + "\n"


def plot(results: dict, path: Path) -> None:
    """p99 latency against delivered rate, one line per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    colors: dict[str, str] = {}  # one colour per configuration, whatever its rounds
    for config in results["configs"]:
        rows = [r for r in config["steps"] if r["p99_ms"] is not None]
        if not rows:
            continue
        label = f"{config['gateway']} {config['kind']} C={config['clients']}"
        first = label not in colors
        if first:
            colors[label] = f"C{len(colors) % 10}"
        ax.plot(
            [r["delivered_per_s"] for r in rows],
            [r["p99_ms"] for r in rows],
            marker="o",
            color=colors[label],
            alpha=1.0 if first else 0.45,
            label=label if first else None,
        )
    ax.axhline(STRICT_P99_MS, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("delivered messages/s (all clients)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("Gateway fan-out: p99 latency vs delivered rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
