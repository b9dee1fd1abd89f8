"""The end-to-end benchmark's table: figures with their targets, then the CPU budget that explains
them. Reads the JSON lines bench.sh wrote; prints to the terminal.

    python3 deploy/bench/report.py RESULTS.jsonl CORES
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
cores = int(sys.argv[2])
ceiling = next((r for r in rows if r["label"] == "c-ceiling"), None)
# Each gateway row is followed by deploy/bench/relay.c doing the same row's work.
relays = {r["label"][len("C relay "):]: r for r in rows if r.get("relay")}


def per_command(row, key):
    """CPU milliseconds per command of one process over the row."""
    return 1000 * row.get(key, 0) / row["commands"]


standins = sorted({r.get("standin", "simulator") for r in rows if "standin" in r})
print(f"{'row':<17}{'cmds/s':>8}{'p50 ms':>8}{'p99 ms':>9}{'p99.9 ms':>10}{'added p99':>10}{'RSS MiB':>8}"
      f"  {'CPU ms per command: gateway broker stand-in driver':<52}  target")
if standins:
    print(f"(OIFDE stand-in: {', '.join(standins)}; nginx answers the 0 ms rows over plain HTTP)")
if ceiling:
    cpu = f"{per_command(ceiling, 'gatewayCpuSeconds'):>7.3f}{per_command(ceiling, 'brokerCpuSeconds'):>7.3f}{'':>10}{per_command(ceiling, 'driverCpuSeconds'):>7.3f}"
    print(f"{'C ceiling':<17}{ceiling['commandsPerSecond']:>8.0f}{ceiling['latencyMs']['p50']:>8.1f}{ceiling['latencyMs']['p99']:>9.1f}"
          f"{ceiling['latencyMs']['p999']:>10.1f}{'':>10}{'':>8}  {'(C loop)':>20}{cpu}")
for r in rows:
    if r["label"] == "c-ceiling" or "rssKiB" in r or r.get("relay"):
        continue
    if r["rate"] > 0:
        target = f"added p99 < 5 ms: {'met' if r['addedLatencyMs']['p99'] < 5 else 'MISSED'}"
    elif r["simulatorLatencyMs"] == 0:
        if ceiling:
            share = 100 * r["commandsPerSecond"] / ceiling["commandsPerSecond"]
            target = f"≥ 70% of ceiling: {share:.0f}% {'met' if share >= 70 else 'MISSED'}"
        else:
            target = "≥ 70% of ceiling: (no ceiling row)"
    else:
        bound = r["maxInFlight"] / (r["simulatorLatencyMs"] / 1000)
        share = 100 * r["commandsPerSecond"] / bound
        target = f"≥ 90% of {bound:.0f}/s: {share:.0f}% {'met' if share >= 90 else 'MISSED'}"
    target += f"; RSS < 64 MiB: {'met' if r['gatewayPeakRssMiB'] < 64 else 'MISSED'}"
    cpu = "".join(f"{per_command(r, k):>7.3f}" for k in ("gatewayCpuSeconds", "brokerCpuSeconds")) + \
        f"{per_command(r, 'simulatorCpuSeconds'):>10.3f}{per_command(r, 'driverCpuSeconds'):>7.3f}"
    print(f"{r['label']:<17}{r['commandsPerSecond']:>8.0f}{r['latencyMs']['p50']:>8.1f}{r['latencyMs']['p99']:>9.1f}"
          f"{r['latencyMs']['p999']:>10.1f}{r['addedLatencyMs']['p99']:>10.1f}{r['gatewayPeakRssMiB']:>8.1f}  {'':>20}{cpu}  {target}")
    relay = relays.get(r["label"])
    if relay:
        relay_cpu = "".join(f"{per_command(relay, k):>7.3f}" for k in ("gatewayCpuSeconds", "brokerCpuSeconds")) + \
            f"{per_command(relay, 'simulatorCpuSeconds'):>10.3f}{per_command(relay, 'driverCpuSeconds'):>7.3f}"
        ratio = per_command(r, "gatewayCpuSeconds") / max(per_command(relay, "gatewayCpuSeconds"), 1e-9)
        speed = r["commandsPerSecond"] / relay["commandsPerSecond"]
        print(f"{'  C relay':<17}{relay['commandsPerSecond']:>8.0f}{relay['latencyMs']['p50']:>8.1f}{relay['latencyMs']['p99']:>9.1f}"
              f"{relay['latencyMs']['p999']:>10.1f}{'':>10}{'':>8}  {'(relay.c)':>20}{relay_cpu}  "
              f"gateway CPU {ratio:.1f}x the relay's (target <= 2x), throughput {speed:.2f}x")

# What the others leave: with broker, simulator and driver on the same cores, even a gateway that
# cost nothing could not pass cores / (their CPU per command).
print()
for r in rows:
    if "rssKiB" in r or r["label"] == "c-ceiling" or r.get("relay"):
        continue
    others = sum(per_command(r, k) for k in ("brokerCpuSeconds", "simulatorCpuSeconds", "driverCpuSeconds"))
    total = others + per_command(r, "gatewayCpuSeconds")
    busy = 100 * total * r["commandsPerSecond"] / 1000 / cores
    line = (f"{r['label']}: the machine was {busy:.0f}% busy ({total:.2f} ms CPU per command, gateway "
            f"{100 * per_command(r, 'gatewayCpuSeconds') / total:.0f}% of it)")
    if r["rate"] == 0 and r["simulatorLatencyMs"] == 0 and others > 0:
        bound = cores * 1000 / others
        line += f"; a gateway costing nothing could reach {bound:.0f}/s"
        if ceiling:
            line += f" = {100 * bound / ceiling['commandsPerSecond']:.0f}% of the ceiling"
    print(line)

# A row whose commands did not all succeed measured another path (validation, expiry, dead
# letters) than the forward to OIFDE the targets are about.
for r in rows:
    statuses = r.get("statuses") or {}
    failed = sum(n for status, n in statuses.items() if status != "succeeded")
    if failed:
        print(f"WARNING {r['label']}: {failed} of {r['commands']} commands did not succeed {statuses}: not the forwarding path")
