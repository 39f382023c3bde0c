#!/usr/bin/env bash
# QuickSort speedup over the sequential sort of the same data in the same run, for several drone counts and sizes,
# each run with the machine's capacity baseline of the same run (the sequential sort on every core at once, each on
# its own copy): the table shows the speedup, the capacity and the speedup as a fraction of it, and the protocol
# messages per element. Writes speedup.csv, speedup.md (to paste into RESULTS.md) and speedup.png (gnuplot) to OUT,
# a fresh temporary folder unless OUT is given (OUT=bench/speedup replaces the committed results).
#   DRONES="1 2 4" SIZES="1048576 4194304" RUNS=3 OUT=bench/speedup bench/speedup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
drones="${DRONES:-1 2 4}"
sizes="${SIZES:-1048576 4194304}"
runs="${RUNS:-3}"
out="${OUT:-$(mktemp -d -t hivemind-speedup.XXXXXX)}"
command -v gnuplot >/dev/null || { echo "speedup.sh: gnuplot is needed for the plot (apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$out"

dotnet build -c Release apps/QuickSort -v quiet -nologo >/dev/null
app=apps/QuickSort/bin/Release/net10.0/QuickSort.dll

csv="$out/speedup.csv"
echo "drones,elements,run,parallel_ms,sequential_ms,speedup,capacity,of_capacity,messages" > "$csv"
for n in $drones; do
  for size in $sizes; do
    for run in $(seq 1 "$runs"); do
      line=$(dotnet "$app" --drones "$n" --count "$size" --seed "$run" --capacity --no-progress --quiet | grep '^RESULT ')
      [[ "$line" == *"verified=1"* ]] || { echo "speedup.sh: run drones=$n elements=$size seed=$run did not verify: $line" >&2; exit 1; }
      field() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
      echo "$n,$size,$run,$(field parallel_ms),$(field sequential_ms),$(field speedup),$(field capacity),$(field of_capacity),$(field messages)" >> "$csv"
      echo "drones=$n elements=$size run=$run speedup=$(field speedup) capacity=$(field capacity) of_capacity=$(field of_capacity) messages=$(field messages)"
    done
  done
done

# Medians per (drones, elements).
md="$out/speedup.md"
{
  echo "| drones | elements | median time on drones (ms) | median sequential (ms) | median speedup | median capacity | median speedup / capacity | messages per element |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  python3 - "$csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(int(r["drones"]), int(r["elements"])) for r in rows})
for d, e in keys:
    sel = [r for r in rows if int(r["drones"]) == d and int(r["elements"]) == e]
    med = lambda k: statistics.median(float(r[k]) for r in sel)
    print(f"| {d} | {e:,} | {med('parallel_ms'):.1f} | {med('sequential_ms'):.1f} | {med('speedup'):.2f} | {med('capacity'):.2f} | {med('of_capacity'):.2f} | {med('messages') / e:.4f} |")
PY
} > "$md"
cat "$md"

medians=$(mktemp)
trap 'rm -f "$medians"' EXIT
python3 - "$csv" "$medians" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sizes = sorted({int(r["elements"]) for r in rows})
drones = sorted({int(r["drones"]) for r in rows})
with open(sys.argv[2], "w") as f:
    f.write("drones " + " ".join(f"speedup_{s} capacity_{s}" for s in sizes) + "\n")
    for d in drones:
        cols = []
        for s in sizes:
            sel = [r for r in rows if int(r["drones"]) == d and int(r["elements"]) == s]
            cols += [statistics.median(float(r["speedup"]) for r in sel), statistics.median(float(r["capacity"]) for r in sel)]
        f.write(f"{d} " + " ".join(f"{c:.3f}" for c in cols) + "\n")
PY
columns=$(head -1 "$medians" | wc -w)
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$out/speedup.png"
set title "QuickSort speedup over the sequential sort, and the machine's capacity (median of $runs runs)"
set xlabel "drones"
set ylabel "speedup"
set xtics 1
set key left top autotitle columnhead
set grid
plot for [c=2:$columns:2] "$medians" using 1:c with linespoints lw 2, \
     for [c=3:$columns:2] "$medians" using 1:c with lines dt 2 lw 1, \
     x with lines dt 3 title "linear"
GP
echo "speedup.sh: wrote $csv, $md and $out/speedup.png"
