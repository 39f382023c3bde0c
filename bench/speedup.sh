#!/usr/bin/env bash
# QuickSort speedup over the sequential sort of the same data in the same run, for several drone counts
# and sizes. Writes bench/speedup/speedup.csv, a markdown table (bench/speedup/speedup.md, to paste into
# RESULTS.md) and a plot (bench/speedup/speedup.png, with gnuplot-nox from Debian, installed if missing).
#   DRONES="1 2 4" SIZES="1048576 4194304" RUNS=3 bench/speedup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
drones="${DRONES:-1 2 4}"
sizes="${SIZES:-1048576 4194304}"
runs="${RUNS:-3}"
out=bench/speedup
mkdir -p "$out"

dotnet build -c Release apps/QuickSort -v quiet -nologo >/dev/null
app=apps/QuickSort/bin/Release/net10.0/QuickSort.dll

csv="$out/speedup.csv"
echo "drones,elements,run,parallel_ms,sequential_ms,speedup" > "$csv"
for n in $drones; do
  for size in $sizes; do
    for run in $(seq 1 "$runs"); do
      line=$(dotnet "$app" --drones "$n" --count "$size" --seed "$run" --no-progress --quiet | grep '^RESULT ')
      [[ "$line" == *"verified=1"* ]] || { echo "speedup.sh: run drones=$n elements=$size seed=$run did not verify: $line" >&2; exit 1; }
      field() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
      echo "$n,$size,$run,$(field parallel_ms),$(field sequential_ms),$(field speedup)" >> "$csv"
      echo "drones=$n elements=$size run=$run speedup=$(field speedup)"
    done
  done
done

# Median speedup per (drones, elements).
md="$out/speedup.md"
{
  echo "| drones | elements | median time on drones (ms) | median sequential (ms) | median speedup |"
  echo "|---:|---:|---:|---:|---:|"
  python3 - "$csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(int(r["drones"]), int(r["elements"])) for r in rows})
for d, e in keys:
    sel = [r for r in rows if int(r["drones"]) == d and int(r["elements"]) == e]
    med = lambda k: statistics.median(float(r[k]) for r in sel)
    print(f"| {d} | {e:,} | {med('parallel_ms'):.1f} | {med('sequential_ms'):.1f} | {med('speedup'):.2f} |")
PY
} > "$md"
cat "$md"

if ! command -v gnuplot >/dev/null 2>&1; then
  as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi

medians=$(mktemp)
trap 'rm -f "$medians"' EXIT
python3 - "$csv" "$medians" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sizes = sorted({int(r["elements"]) for r in rows})
drones = sorted({int(r["drones"]) for r in rows})
with open(sys.argv[2], "w") as f:
    f.write("drones " + " ".join(str(s) for s in sizes) + "\n")
    for d in drones:
        meds = [statistics.median(float(r["speedup"]) for r in rows if int(r["drones"]) == d and int(r["elements"]) == s) for s in sizes]
        f.write(f"{d} " + " ".join(f"{m:.3f}" for m in meds) + "\n")
PY
columns=$(head -1 "$medians" | wc -w)
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$out/speedup.png"
set title "QuickSort speedup over the sequential sort (median of $runs runs)"
set xlabel "drones"
set ylabel "speedup"
set key left top autotitle columnhead
set grid
plot for [c=2:$columns] "$medians" using 1:c with linespoints lw 2, x with lines dt 2 title "linear"
GP
echo "speedup.sh: wrote $csv, $md and $out/speedup.png"
