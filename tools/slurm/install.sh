#!/usr/bin/env bash
# Debian packages of the one-node test cluster (as root; about 5 s when the archive is reachable).
set -euo pipefail
if command -v slurmctld > /dev/null && command -v slurmd > /dev/null && command -v sbatch > /dev/null && command -v munged > /dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q > /dev/null
apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null
