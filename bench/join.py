#!/usr/bin/python3
"""Joining figures: how long a drone that asks to join waits for its admission, and what the admission costs.

Each run starts QuickSort on DRONES drones (default 3) with room for one more (--max-drones) and drone 0 waiting
for a join request before the timed sort (--await-joiners 1); when drone 0 offers the run, a joiner process is
started with --join. Reported per run, from the lines the processes print:
  startup    ms from starting the joiner process to its "joined" line (.NET start, key proof, links, admission);
  admission  ms from its join request to its admission, as the joiner logs it (the admitting barrier's garbage
             collection, the view change and the welcome);
  parallel   QuickSort's parallel time with the joiner, against runs of the same DRONES drones and data with no
             joiner (the baseline), for what the admission and a drone more cost or gain.
Medians over RUNS runs.
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


def run(join):
    common = ["--count", COUNT, "--seed", "5", "--no-progress", "--quiet"]
    with tempfile.TemporaryDirectory() as folder:
        key = os.path.join(folder, "cluster.key")
        args = ["dotnet", APP, "--drones", str(DRONES), *common]
        if join:
            args += ["--max-drones", str(DRONES + 1), "--key-file", key, "--await-joiners", "1"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        joiner = None
        startup = admission = result = None
        for line in proc.stdout:
            offer = re.search(r"may join: --join (\S+) --key-file", line)
            if join and offer and joiner is None:
                started = time.monotonic()
                joiner = subprocess.Popen(["dotnet", APP, "--join", offer.group(1), "--key-file", key, *common],
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
    rows = {False: [], True: []}
    for _ in range(RUNS):
        for join in (False, True):  # alternating, so drift on a noisy machine hits both alike
            rows[join].append(run(join))
            parallel, startup, admission = rows[join][-1]
            print(f"{'join' if join else 'none'}: parallel {parallel:.1f} ms, joiner up after {startup} ms, admitted {admission} ms after asking", flush=True)
    base = statistics.median(r[0] for r in rows[False])
    joined = statistics.median(r[0] for r in rows[True])
    print()
    print(f"QuickSort {COUNT} ints, {DRONES} drones plus one joining at the timed sort's start barrier; medians of {RUNS} runs")
    print()
    print("| run | joiner start to admitted (ms) | join request to admitted (ms) | parallel time (ms) | ratio to no joiner |")
    print("|---|---|---|---|---|")
    print(f"| {DRONES} drones, no joiner (baseline) | – | – | {base:.0f} | 1.00 |")
    print(f"| {DRONES} drones + 1 joiner | {statistics.median(r[1] for r in rows[True]):.0f} | "
          f"{statistics.median(r[2] for r in rows[True]):.0f} | {joined:.0f} | {joined / base:.2f} |")


if __name__ == "__main__":
    main()
