#!/usr/bin/python3
"""Recovery figures: how long a failed drone takes to be noticed and removed, and what it costs QuickSort.

For each case it runs QuickSort on DRONES drones (default 4) with drone 2 told to stop at a moment
(--stall-at partition:2:1), then fails it and timestamps the lines the drones print as they arrive:
  kill     SIGKILL: the kernel resets drone 2's connections, so the others notice at once;
  silent   SIGSTOP, then SIGKILL once removed: no reset, only silence, noticed after the failure timeout.
Reported per run: ms from the failure to drone 0's "view 1" log line (time to a new view), ms from the
failure to a live drone putting drone 2's ranges back, and QuickSort's parallel time, against runs with
no failure (the baseline, same data) for the time the failure cost. Medians over RUNS runs.
  RUNS=5 COUNT=2097152 bench/recovery.py
"""
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "apps/QuickSort/bin/Release/net10.0/QuickSort.dll")
RUNS = int(os.environ.get("RUNS", "5"))
COUNT = os.environ.get("COUNT", "2097152")
DRONES = os.environ.get("DRONES", "4")
HEARTBEAT_MS, TIMEOUT_MS = 100, 1000


def run(case):
    args = ["dotnet", APP, "--drones", DRONES, "--count", COUNT, "--seed", "5", "--no-progress", "--quiet",
            "--heartbeat-ms", str(HEARTBEAT_MS), "--failure-timeout-ms", str(TIMEOUT_MS)]
    if case != "none":
        args += ["--stall-at", "partition:2:1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    failed_at = view_at = requeued_at = None
    result = None
    victim = None
    for line in proc.stdout:
        now = time.monotonic()
        stall = re.search(r"STALL drone 2 at \w+ pid=(\d+)", line)
        if stall:
            victim = int(stall.group(1))
            failed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL if case == "kill" else signal.SIGSTOP)
        elif view_at is None and re.search(r"^\S+ warn: HiveMind.Drone\S* drone 0: view 1:", line):
            view_at = now
            if case == "silent":
                os.kill(victim, signal.SIGKILL)
        elif requeued_at is None and "drone 2 failed; its" in line:
            requeued_at = now
        elif line.startswith("RESULT "):
            result = dict(kv.split("=") for kv in line.split()[1:])
    proc.wait(timeout=300)
    if proc.returncode != 0 or not result or result.get("verified") != "1":
        sys.exit(f"recovery.py: {case} run exited {proc.returncode} with {result}")
    if case != "none" and (view_at is None or requeued_at is None):
        sys.exit(f"recovery.py: {case} run never showed the new view or the requeue")
    ms = lambda t: (t - failed_at) * 1000 if t else None
    return float(result["parallel_ms"]), ms(view_at), ms(requeued_at)


def main():
    subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(ROOT, "apps/QuickSort"), "-v", "quiet", "-nologo"],
                   check=True, stdout=subprocess.DEVNULL)
    rows = {}
    for case in ("none", "kill", "silent"):
        rows[case] = [run(case) for _ in range(RUNS)]
        for parallel, view, requeue in rows[case]:
            print(f"{case}: parallel {parallel:.1f} ms, new view after {view} ms, ranges back after {requeue} ms", flush=True)
    base = statistics.median(r[0] for r in rows["none"])
    print()
    print(f"QuickSort {COUNT} ints on {DRONES} drones, drone 2 failed mid-partition; heartbeat {HEARTBEAT_MS} ms, "
          f"failure timeout {TIMEOUT_MS} ms; medians of {RUNS} runs")
    print()
    print("| failure | time to new view (ms) | time to ranges back in queue (ms) | parallel time (ms) | lost vs. no failure (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| none (baseline) | – | – | {base:.0f} | – | 1.00 |")
    for case, name in (("kill", "kill -9 (connection reset)"), ("silent", "SIGSTOP (silence only)")):
        view = statistics.median(r[1] for r in rows[case])
        requeue = statistics.median(r[2] for r in rows[case])
        parallel = statistics.median(r[0] for r in rows[case])
        print(f"| {name} | {view:.0f} | {requeue:.0f} | {parallel:.0f} | {parallel - base:.0f} | {parallel / base:.2f} |")


if __name__ == "__main__":
    main()
