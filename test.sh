#!/usr/bin/env bash
# Runs every HiveMind test: installs what the tests need when it is missing, checks formatting,
# then runs `dotnet test` over the whole solution. CI calls exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: python3-msgpack is the independent MessagePack implementation that
# the codec tests check frames against (Debian's /usr/bin/python3, not another python on PATH);
# openssh-server is the real sshd the ssh-launcher tests start on loopback and inside network namespaces
# (with the ssh/scp client and ssh-keygen); iproute2 makes the namespaces (the tests run as root); slurm-wlm and
# munge are the real Slurm (slurmctld, slurmd, srun, sbatch) and openmpi-bin the real mpirun that the cluster-launcher
# tests start drones under.
missing=()
/usr/bin/python3 -c 'import msgpack' >/dev/null 2>&1 || missing+=(python3-msgpack)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-sftp-server)
command -v ssh >/dev/null && command -v scp >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v ip >/dev/null || missing+=(iproute2)
[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/bin/srun ] && [ -x /usr/bin/sbatch ] || missing+=(slurm-wlm)
[ -x /usr/sbin/munged ] || missing+=(munge)
[ -x /usr/bin/mpirun ] || missing+=(openmpi-bin)
command -v nsenter >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

dotnet restore HiveMind.sln
dotnet build HiveMind.sln -c Release --no-restore
# QuickSort published as one file (no QuickSort.dll beside it), for the test that starts such a program over ssh.
dotnet publish apps/QuickSort -c Release -r linux-x64 --self-contained false -p:PublishSingleFile=true -o artifacts/single-file --nologo -v quiet
echo "test.sh: checking formatting (dotnet format --verify-no-changes)"
dotnet format HiveMind.sln --verify-no-changes --no-restore
# The whole output is kept; when a test fails, its name and message are printed again at the end, so the last
# lines of a long run (all CI shows) say what failed even when another test assembly finished after it.
mkdir -p artifacts
set +e
dotnet test HiveMind.sln -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee artifacts/test-output.txt
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "test.sh: dotnet test exited with $status; what failed (whole output in artifacts/test-output.txt):"
  grep -E -A 12 '^\s*Failed [A-Za-z]|^\s*\[xUnit\.net [0-9:.]+\] .*\[FAIL\]|error [A-Z]+[0-9]+:|Test host process crashed|aborted' artifacts/test-output.txt | head -300
fi
exit "$status"
