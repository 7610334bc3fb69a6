#!/usr/bin/env bash
# System packages that `make test` needs besides Python: graphviz (`dot`: the rendered DAG in
# tests/test_profiles.py) and a one-node SLURM cluster (slurm-wlm, munge: tests/test_slurm.py).
# All present: nothing to do. Missing on Debian/Ubuntu as root (or with password-less sudo): apt-get installs
# them. Missing elsewhere: a message naming the packages and the tests that need them, and exit status 1.
set -euo pipefail

PACKAGES=(graphviz slurm-wlm munge)
PROGRAMS=(dot munged slurmctld slurmd sbatch squeue scancel srun sinfo)

missing_programs() {
  local program
  for program in "${PROGRAMS[@]}"; do
    command -v "$program" >/dev/null 2>&1 || printf '%s ' "$program"
  done
}

missing=$(missing_programs)
[ -z "$missing" ] && exit 0

as_root=()
can_install=no
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    can_install=yes
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
    can_install=yes
  fi
fi

if [ "$can_install" = yes ]; then
  echo "system packages: ${missing}not found; installing ${PACKAGES[*]} with apt-get" >&2
  "${as_root[@]}" apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  missing=$(missing_programs)
  [ -z "$missing" ] && exit 0
  echo "system packages: still not found after apt-get install: ${missing}" >&2
fi

{
  echo "make test needs system packages that are missing (${missing}not found on PATH):"
  echo "  graphviz          (dot)                          tests/test_profiles.py renders the job graph"
  echo "  slurm-wlm, munge  (slurmctld, slurmd, sbatch, munged)  tests/test_slurm.py starts a one-node SLURM cluster"
  echo "Install them as root (Debian/Ubuntu: apt-get install -y --no-install-recommends ${PACKAGES[*]};"
  echo "elsewhere the system's graphviz, SLURM and MUNGE packages), then run make test again."
} >&2
exit 1
