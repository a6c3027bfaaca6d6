#!/usr/bin/env bash
# Stop the cluster that up.sh started under DIR (default .slurm/), by the PIDs it started.
set -uo pipefail
dir="${1:-.slurm}"
[ -d "$dir" ] || exit 0
for f in "$dir/slurmd.pid.started" "$dir/slurmctld.pid.started" "$dir/munge/munged.pid"; do
  if [ -f "$f" ]; then
    pid="$(cat "$f")"
    kill "$pid" 2> /dev/null && for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$f"
  fi
done
rm -f "$dir/env"
