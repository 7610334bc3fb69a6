#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for tests: `cluster.sh start DIR` / `cluster.sh stop DIR`.
# Needs Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`) and root. Daemons are stopped by the
# PIDs they wrote into DIR. Partition "debug" holds the one node with all CPUs of this machine.
set -euo pipefail
action=${1:?start|stop}
dir=$(realpath -m "${2:?state directory}")
cpus=$(nproc)
host=$(hostname -s)

stop() {
  for pid in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
}

if [ "$action" = stop ]; then stop; exit 0; fi

mkdir -p "$dir"/{spool,state,log,munge}
# munge: a key of our own and a socket in DIR, so nothing system-wide is touched
[ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/munge.key" status=none
chmod 700 "$dir/munge"; chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" -f

cat > "$dir/slurm.conf" <<CONF
ClusterName=lowrank
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$host CPUs=$cpus RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc"; then echo "SLURM_CONF=$SLURM_CONF"; exit 0; fi
  sleep 1
done
echo "SLURM did not come up; logs in $dir/log" >&2
tail -n 20 "$dir"/log/*.log >&2 || true
stop
exit 1
