#!/usr/bin/python3
"""False removals under load: QuickSort of COUNT ints (default 96M) on DRONES drones (default 3) with a CPU hog beside
them (HOGS busy-looping processes, default 1), no fault injected. A drone taken for failed shows in the RESULT line
(failed=N, QuickSort recovers) and in drone 0's view lines. Per run: removals, the longest silence any drone heard from
a peer while listening (the failure detector's margin: the default failure timeout is 3000 ms), the time .NET's GC
paused each drone, and the parallel time. Medians and maxima over RUNS runs (default 10).
  RUNS=10 COUNT=96000000 bench/detector.py
"""
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "apps/QuickSort/bin/Release/net10.0/QuickSort.dll")
RUNS = int(os.environ.get("RUNS", "10"))
COUNT = os.environ.get("COUNT", "96000000")
DRONES = os.environ.get("DRONES", "3")
HOGS = int(os.environ.get("HOGS", "1"))


def run(seed):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]
    try:
        out = subprocess.run(["dotnet", APP, "--drones", DRONES, "--count", COUNT, "--seed", str(seed), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800).stdout
    finally:
        for hog in hogs:
            hog.kill()
    result = re.search(r"^RESULT (.*)$", out, re.M)
    if not result:
        sys.exit(f"detector.py: run {seed} printed no RESULT:\n{out[-3000:]}")
    fields = dict(kv.split("=") for kv in result.group(1).split())
    silences = [int(s.replace(",", "")) for s in re.findall(r"longest silence heard\s*│\s*([\d,]+) ms", out)]
    pauses = [float(p.replace(",", "")) for p in re.findall(r"\.NET GC pause, all\s*│\s*([\d,.]+) ms", out)]
    views = len(re.findall(r"drone 0: view \d+:", out))
    return int(fields["failed"]), views, max(silences), max(pauses), float(fields["parallel_ms"]), fields["verified"]


def main():
    subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(ROOT, "apps/QuickSort"), "-v", "quiet", "-nologo"],
                   check=True, stdout=subprocess.DEVNULL)
    rows = []
    for seed in range(1, RUNS + 1):
        row = run(seed)
        rows.append(row)
        print(f"run {seed}: removed {row[0]} (views {row[1]}), longest silence {row[2]} ms, GC pause {row[3]:.0f} ms, "
              f"parallel {row[4]:.0f} ms, verified={row[5]}", flush=True)
    print()
    print(f"QuickSort {COUNT} ints on {DRONES} drones, {HOGS} CPU hog(s) beside them, default detector "
          f"(heartbeat 250 ms, failure timeout 3000 ms), {RUNS} runs")
    print()
    print("| runs | drones removed (all runs) | longest silence heard, median / max (ms) | GC pause per drone, median / max (ms) | parallel time, median (ms) | verified |")
    print("|---|---|---|---|---|---|")
    print(f"| {RUNS} | {sum(r[0] for r in rows)} | {statistics.median(r[2] for r in rows):.0f} / {max(r[2] for r in rows)} | "
          f"{statistics.median(r[3] for r in rows):.0f} / {max(r[3] for r in rows):.0f} | {statistics.median(r[4] for r in rows):.0f} | "
          f"{sum(r[5] == '1' for r in rows)}/{RUNS} |")


if __name__ == "__main__":
    main()
