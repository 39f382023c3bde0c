#!/usr/bin/python3
"""Joining figures: how long a drone that asks to join waits for its admission, and what the admission costs.

Each run starts QuickSort on DRONES drones (default 3) with room for one more (--max-drones) and drone 0 waiting
for a join request before the timed sort (--await-joiners 1); when drone 0 starts to wait (its warm-up sort done),
a joiner process is started with --join, to be admitted at the barrier that starts the timed sort. Reported per run, from the lines the processes print:
  startup    ms from starting the joiner process to its "joined" line (.NET start, key proof, links, admission);
  admission  ms from its join request to its admission, as the joiner logs it (the admitting barrier's garbage
             collection, the view change and the welcome);
  parallel   QuickSort's parallel time with the joiner, against runs of the same data on DRONES drones (the
             baseline) and on DRONES + 1 drones started together, for what joining costs beyond a drone more.
Medians over RUNS runs; EXTRA adds QuickSort options to every process (EXTRA=--no-warmup: all drones start cold).
  RUNS=5 COUNT=2097152 bench/join.py
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "apps/QuickSort/bin/Release/net10.0/QuickSort.dll")
RUNS = int(os.environ.get("RUNS", "5"))
COUNT = os.environ.get("COUNT", "2097152")
DRONES = int(os.environ.get("DRONES", "3"))


def run(drones, join):
    common = ["--count", COUNT, "--seed", "5", "--no-progress", "--quiet", *os.environ.get("EXTRA", "").split()]
    with tempfile.TemporaryDirectory() as folder:
        key = os.path.join(folder, "cluster.key")
        args = ["dotnet", APP, "--drones", str(drones), *common]
        if join:
            args += ["--max-drones", str(DRONES + 1), "--key-file", key, "--await-joiners", "1"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        joiner = None
        startup = admission = result = None
        address = None
        for line in proc.stdout:
            offer = re.search(r"may join: --join (\S+) --key-file", line)
            if offer:
                address = offer.group(1)
            elif join and "drone 0 waits for 1 joiner" in line and joiner is None:
                started = time.monotonic()
                joiner = subprocess.Popen(["dotnet", APP, "--join", address, "--key-file", key, *common],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
                for joined in joiner.stdout:
                    admitted = re.search(r"joined the run at barrier \d+, .*admitted ([\d.]+) ms after asking", joined)
                    if admitted:
                        startup = (time.monotonic() - started) * 1000
                        admission = float(admitted.group(1))
                        break
            elif line.startswith("RESULT "):
                result = dict(kv.split("=") for kv in line.split()[1:])
        proc.wait(timeout=300)
        if joiner is not None:
            rest = joiner.communicate(timeout=300)[0]
            if joiner.returncode != 0 or "JOINED" not in rest:
                sys.exit(f"join.py: the joiner exited {joiner.returncode}:\n{rest}")
    if proc.returncode != 0 or not result or result.get("verified") != "1":
        sys.exit(f"join.py: run exited {proc.returncode} with {result}")
    if join and admission is None:
        sys.exit("join.py: the joiner never said it was admitted")
    return float(result["parallel_ms"]), startup, admission


def main():
    subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(ROOT, "apps/QuickSort"), "-v", "quiet", "-nologo"],
                   check=True, stdout=subprocess.DEVNULL)
    cases = {"base": (DRONES, False), "more": (DRONES + 1, False), "join": (DRONES, True)}
    rows = {case: [] for case in cases}
    for _ in range(RUNS):
        for case, (drones, join) in cases.items():  # in turn, so drift on a noisy machine hits all alike
            rows[case].append(run(drones, join))
            parallel, startup, admission = rows[case][-1]
            print(f"{case}: parallel {parallel:.1f} ms, joiner up after {startup} ms, admitted {admission} ms after asking", flush=True)
    base = statistics.median(r[0] for r in rows["base"])
    more = statistics.median(r[0] for r in rows["more"])
    joined = statistics.median(r[0] for r in rows["join"])
    print()
    print(f"QuickSort {COUNT} ints, {DRONES} drones plus one joining at the timed sort's start barrier; medians of {RUNS} runs")
    print()
    print("| run | joiner start to admitted (ms) | join request to admitted (ms) | parallel time (ms) | ratio to no joiner |")
    print("|---|---|---|---|---|")
    print(f"| {DRONES} drones, no joiner (baseline) | – | – | {base:.0f} | 1.00 |")
    print(f"| {DRONES + 1} drones from the start | – | – | {more:.0f} | {more / base:.2f} |")
    print(f"| {DRONES} drones + 1 joiner | {statistics.median(r[1] for r in rows['join']):.0f} | "
          f"{statistics.median(r[2] for r in rows['join']):.0f} | {joined:.0f} | {joined / base:.2f} |")


if __name__ == "__main__":
    main()
