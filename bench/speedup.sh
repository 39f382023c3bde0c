#!/usr/bin/env bash
# Speedup of the apps over the same computation done sequentially in the same run, at several drone counts, each run
# with the machine's capacity baseline of the same run (the sequential computation on every core at once, each on its
# own copy): the table shows the speedup, the capacity, the speedup as a fraction of it, and the protocol messages.
# Writes speedup.csv, speedup.md (to paste into RESULTS.md) and one plot per app and size (speedup-<app>-<size>.png,
# gnuplot) to OUT, a fresh temporary folder unless OUT is given (OUT=bench/speedup replaces the committed results).
#   APPS="QuickSort Sor Jacobi IntegerSort Tsp Water" DRONES="1 2 4" SIZES="4194304" RUNS=3 OUT=bench/speedup bench/speedup.sh
# SIZES are QuickSort's element counts; the other apps run at their defaults, or with SOR_ARGS, JACOBI_ARGS,
# INTEGERSORT_ARGS, TSP_ARGS and WATER_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
apps="${APPS:-QuickSort}"
drones="${DRONES:-1 2 4}"
sizes="${SIZES:-1048576 4194304}"
runs="${RUNS:-3}"
out="${OUT:-$(mktemp -d -t hivemind-speedup.XXXXXX)}"
command -v gnuplot >/dev/null || { echo "speedup.sh: gnuplot is needed for the plots (apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$out"

# app|size label|arguments, one line per configuration.
configs=()
for app in $apps; do
  case "$app" in
    QuickSort) for size in $sizes; do configs+=("QuickSort|$size|--count $size"); done ;;
    Sor) configs+=("Sor|${SOR_ARGS:-default}|${SOR_ARGS:-}") ;;
    Jacobi) configs+=("Jacobi|${JACOBI_ARGS:-default}|${JACOBI_ARGS:-}") ;;
    IntegerSort) configs+=("IntegerSort|${INTEGERSORT_ARGS:-default}|${INTEGERSORT_ARGS:-}") ;;
    Tsp) configs+=("Tsp|${TSP_ARGS:-default}|${TSP_ARGS:-}") ;;
    Water) configs+=("Water|${WATER_ARGS:-default}|${WATER_ARGS:-}") ;;
    *) echo "speedup.sh: unknown app '$app' (QuickSort, Sor, Jacobi, IntegerSort, Tsp, Water)" >&2; exit 2 ;;
  esac
  built=$(dotnet build -c Release "apps/$app" -v quiet -nologo 2>&1) || { echo "speedup.sh: building apps/$app failed:" >&2; echo "$built" >&2; exit 1; }
done

csv="$out/speedup.csv"
echo "app,size,drones,run,parallel_ms,sequential_ms,speedup,capacity,of_capacity,messages" > "$csv"
for config in "${configs[@]}"; do
  IFS='|' read -r app size args <<<"$config"
  for n in $drones; do
    for run in $(seq 1 "$runs"); do
      # shellcheck disable=SC2086 # the arguments are words
      line=$(dotnet "apps/$app/bin/Release/net10.0/$app.dll" --drones "$n" --seed "$run" --capacity --quiet $args $([ "$app" = QuickSort ] && echo --no-progress) | grep '^RESULT ')
      [[ "$line" == *"verified=1"* ]] || { echo "speedup.sh: $app $args drones=$n seed=$run did not verify: $line" >&2; exit 1; }
      field() { sed -E "s/.* $1=([^ ]+).*/\1/" <<<"$line"; }
      echo "$app,$size,$n,$run,$(field parallel_ms),$(field sequential_ms),$(field speedup),$(field capacity),$(field of_capacity),$(field messages)" >> "$csv"
      echo "$app $size drones=$n run=$run speedup=$(field speedup) capacity=$(field capacity) of_capacity=$(field of_capacity) messages=$(field messages)"
    done
  done
done

# Medians per (app, size, drones), and one plot per (app, size).
md="$out/speedup.md"
python3 - "$csv" "$out" > "$md" <<'PY'
import csv, statistics, sys, os
rows = list(csv.DictReader(open(sys.argv[1])))
print("| app | size | drones | median time on drones (ms) | median sequential (ms) | median speedup | median capacity | median speedup / capacity | messages |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
keys = sorted({(r["app"], r["size"], int(r["drones"])) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
for app, size, d in keys:
    sel = [r for r in rows if (r["app"], r["size"], int(r["drones"])) == (app, size, d)]
    med = lambda k: statistics.median(float(r[k]) for r in sel)
    print(f"| {app} | {size} | {d} | {med('parallel_ms'):.1f} | {med('sequential_ms'):.1f} | {med('speedup'):.2f} | {med('capacity'):.2f} | {med('of_capacity'):.2f} | {med('messages'):.0f} |")
    with open(os.path.join(sys.argv[2], f"medians-{app}-{size}.dat"), "a") as f:
        f.write(f"{d} {med('speedup'):.3f} {med('capacity'):.3f}\n")
PY
cat "$md"
for dat in "$out"/medians-*.dat; do
  name=$(basename "$dat" .dat); name=${name#medians-}
  gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$out/speedup-$name.png"
set title "$name: speedup over the sequential computation, and the machine's capacity (median of $runs runs)"
set xlabel "drones"
set ylabel "speedup"
set xtics 1
set key left top
set grid
plot "$dat" using 1:2 with linespoints lw 2 title "speedup", "$dat" using 1:3 with lines dt 2 title "capacity", x with lines dt 3 title "linear"
GP
  rm -f "$dat"
done
echo "speedup.sh: wrote $csv, $md and the plots speedup-*.png in $out"
