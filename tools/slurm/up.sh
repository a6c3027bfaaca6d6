#!/usr/bin/env bash
# Start a one-node Slurm cluster (munged, slurmctld, slurmd) in the foreground of background
# processes, without systemd, under DIR (default .slurm/). Prints the line to source:
#   export SLURM_CONF=DIR/slurm.conf
# Needs Debian's slurmctld slurmd slurm-client munge (tools/slurm/install.sh). Stop with down.sh DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mkdir -p "${1:-.slurm}" && cd "${1:-.slurm}" && pwd)"
for exe in munged mungekey slurmctld slurmd sinfo; do
  command -v "$exe" > /dev/null || { echo "up.sh: $exe not found; run tools/slurm/install.sh (Debian: slurmctld slurmd slurm-client munge)" >&2; exit 2; }
done
if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2> /dev/null; then
  echo "up.sh: a cluster is already running under $dir (tools/slurm/down.sh $dir stops it)" >&2; exit 1
fi
rm -rf "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
chmod 700 "$dir/munge"
user="$(id -un)"
host="$(hostname -s)"
cpus="${SLURM_NODE_CPUS:-4}"
mem_mb="${SLURM_NODE_MEM_MB:-4000}"
ctld_port="${SLURM_CTLD_PORT:-16817}"
slurmd_port="${SLURM_SLURMD_PORT:-16818}"
sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@USER@|$user|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEM_MB@|$mem_mb|g" -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    "$here/slurm.conf.in" > "$dir/slurm.conf"
cp "$here/gres.conf.in" "$dir/gres.conf"
# munge with its own key and socket (no /etc/munge, no system service)
mungekey --create --keyfile="$dir/munge/munge.key" --force
chmod 600 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
export SLURM_CONF="$dir/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 &
echo $! > "$dir/slurmctld.pid.started"
slurmd -D -N companion-node -f "$SLURM_CONF" > "$dir/log/slurmd.out" 2>&1 &
echo $! > "$dir/slurmd.pid.started"
for _ in $(seq 1 100); do
  state="$(sinfo -h -N -o '%T' 2> /dev/null | head -1 || true)"
  case "$state" in idle|mixed|allocated) break ;; esac
  sleep 0.2
done
case "$state" in
  idle|mixed|allocated) ;;
  *) echo "up.sh: the node did not come up (state '$state'); logs in $dir/log" >&2
     tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
     "$here/down.sh" "$dir"; exit 1 ;;
esac
echo "export SLURM_CONF=$SLURM_CONF" > "$dir/env"
echo "export SLURM_CONF=$SLURM_CONF"
