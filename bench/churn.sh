#!/usr/bin/env bash
# Long-run churn: locks, writes and barriers for MINUTES (30 by default) on DRONES local drones (3), each drone
# sampling its consistency data (records, notices, diffs, twins), its resident set and its collections every
# SAMPLE seconds (10). Writes bench/churn/churn-drone*.csv and bench/churn/churn.png (gnuplot, from gnuplot-nox).
#   MINUTES=30 DRONES=3 GC_THRESHOLD=64MiB bench/churn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${MINUTES:-30}"
drones="${DRONES:-3}"
sample="${SAMPLE:-10}"
threshold="${GC_THRESHOLD:-64MiB}"
out="${OUT:-bench/churn}"
command -v gnuplot >/dev/null || { echo "churn.sh: gnuplot is needed for the plot (apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/churn-drone*.csv

dotnet build -c Release bench/HiveMind.Benchmarks -v quiet -nologo >/dev/null
dotnet bench/HiveMind.Benchmarks/bin/Release/net10.0/HiveMind.Benchmarks.dll proto --case churn --drones "$drones" \
  --minutes "$minutes" --sample-seconds "$sample" --samples "$out" --gc-threshold "$threshold" --heap-size 256MiB --quiet

bytes() { python3 -c "import sys; v=sys.argv[1]; u={'KiB':1<<10,'MiB':1<<20,'GiB':1<<30}; print(next((int(float(v[:-3]))*m for s,m in u.items() if v.endswith(s)), v))" "$1"; }
limit=$(bytes "$threshold")
plots_data=""; plots_rss=""
for f in "$out"/churn-drone*.csv; do
  d=$(basename "$f" .csv); d=${d#churn-drone}
  plots_data+="\"$f\" using 1:(\$2/1048576) with lines lw 2 title \"drone $d\", "
  plots_rss+="\"$f\" using 1:(\$3/1048576) with lines lw 2 title \"drone $d\", "
done
gnuplot <<GP
set terminal pngcairo size 1000,700 noenhanced
set output "$out/churn.png"
set datafile separator ","
set key autotitle columnhead
set multiplot layout 2,1 title "Lock and barrier churn, $drones drones, $minutes min, collection threshold $threshold"
set grid
set xlabel "seconds"
set ylabel "consistency data (MiB)"
set yrange [0:$limit*1.15/1048576]
plot ${plots_data} $limit/1048576.0 with lines dt 2 lc rgb "red" title "collection threshold"
set ylabel "resident set (MiB)"
set yrange [0:*]
plot ${plots_rss%, }
unset multiplot
GP
python3 - "$out" <<'PY'
import csv, glob, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "churn-drone*.csv"))):
    rows = list(csv.DictReader(open(f)))
    late = rows[len(rows) // 4:]  # after warm-up: the last three quarters
    rss = [int(r["rss_bytes"]) / 2**20 for r in late]
    print(f"{os.path.basename(f)}: {len(rows)} samples, {rows[-1]['rounds']} rounds, {rows[-1]['collections']} collections, "
          f"peak consistency data {max(int(r['consistency_bytes']) for r in rows) / 2**20:.1f} MiB, "
          f"resident set after warm-up {min(rss):.0f}..{max(rss):.0f} MiB (first {rss[0]:.0f}, last {rss[-1]:.0f})")
PY
echo "churn.sh: wrote $out/churn.png"
