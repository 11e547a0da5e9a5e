#!/usr/bin/env bash
# A single-node Slurm on this machine (munged, slurmctld, slurmd; no accounting database), to try
# hydra/launcher=slurm without a cluster and to test it for real. Usage:
#   scripts/slurm.sh start    # (make slurm) start the three daemons, print the export line
#   scripts/slurm.sh stop     # (make slurm-stop)
#   scripts/slurm.sh env      # print the export line again
# Everything (slurm.conf, munge key, sockets, state, logs) lives under one folder:
# CELLSWEEP_SLURM_DIR (default .slurm). Other settings: CELLSWEEP_SLURM_PORT (slurmctld's port,
# 6817; slurmd takes the next one), CELLSWEEP_SLURM_CPUS (CPUs the node offers, default all),
# CELLSWEEP_SLURM_GPUS (GPUs the node offers as gres/gpu, default: those nvidia-smi lists).
# Needs root (slurmd runs jobs as their user) and Debian's slurmctld, slurmd, slurm-client and
# munge packages. Client commands find this cluster through SLURM_CONF (see `env`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mkdir -p "${CELLSWEEP_SLURM_DIR:-$ROOT/.slurm}" && cd "${CELLSWEEP_SLURM_DIR:-$ROOT/.slurm}" && pwd)
PORT=${CELLSWEEP_SLURM_PORT:-6817}
NODE=$(hostname -s)
CONF=$DIR/slurm.conf

die() { echo "slurm: $*" >&2; exit 2; }
env_line() { echo "export SLURM_CONF=$CONF"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  local cpus mem gpus gres=""
  cpus=${CELLSWEEP_SLURM_CPUS:-$(nproc)}
  mem=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
  gpus=${CELLSWEEP_SLURM_GPUS:-$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)}
  if [ "${gpus:-0}" -gt 0 ]; then
    gres=" Gres=gpu:$gpus"
    # the device files let slurmd set CUDA_VISIBLE_DEVICES to the GPUs a job was given
    local files="" i
    for ((i = 0; i < gpus; i++)); do
      if [ -e "/dev/nvidia$i" ]; then files+="/dev/nvidia$i "; else
        # a stand-in (CELLSWEEP_SLURM_GPUS on a machine without them): slurmd wants a device file
        [ -e "$DIR/nvidia$i" ] || ln -s /dev/null "$DIR/nvidia$i"
        files+="$DIR/nvidia$i "
      fi
    done
    : >"$DIR/gres.conf"
    for f in $files; do echo "NodeName=$NODE Name=gpu File=$f" >>"$DIR/gres.conf"; done
  else
    rm -f "$DIR/gres.conf"
  fi
  cat >"$CONF" <<EOF
# written by scripts/slurm.sh: one node, no accounting, state under $DIR
ClusterName=cellsweep
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=30
MinJobAge=300
MaxArraySize=10001
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    || die "Slurm not found (Debian: apt-get install slurmctld slurmd slurm-client munge)"
  command -v munged >/dev/null || die "munged not found (Debian: apt-get install munge)"
  [ "$(id -u)" = 0 ] || die "a local Slurm needs root (slurmd starts jobs as their user)"
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log"
  chmod 755 "$DIR/munge"  # users who submit reach the socket; the key stays 600
  write_conf
  if [ ! -s "$DIR/munge/munge.key" ]; then
    (umask 077; head -c 1024 /dev/urandom >"$DIR/munge/munge.key")
  fi
  if ! alive "$DIR/munge/munged.pid"; then
    munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
      --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
      --seed-file="$DIR/munge/munged.seed" --force 2>>"$DIR/log/munged.log" \
      || die "munged did not start: see $DIR/log/munged.log"
  fi
  export SLURM_CONF=$CONF
  if ! alive "$DIR/slurmctld.pid"; then
    slurmctld -c || die "slurmctld did not start: see $DIR/log/slurmctld.log"
  fi
  if ! alive "$DIR/slurmd.pid"; then
    slurmd -N "$NODE" || die "slurmd did not start: see $DIR/log/slurmd.log"
  fi
  local state=""
  for _ in $(seq 1 120); do  # the node registers within seconds; a loaded machine takes longer
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$state" in idle* | mix* | alloc*) break ;; esac
    sleep 0.5
  done
  case "$state" in
    idle* | mix* | alloc*) ;;
    *) die "node $NODE is '${state:-unreachable}', not idle: see $DIR/log/slurmctld.log and slurmd.log" ;;
  esac
  echo "Slurm up: node $NODE, partition debug, state in $DIR; for sbatch/squeue run:" >&2
  env_line
}

stop() {  # all three at once, then wait for each (slurmd takes seconds to wind down)
  local pidfile pids=()
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
    if alive "$pidfile"; then
      pids+=("$(cat "$pidfile")")
      kill "${pids[-1]}" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  echo "slurm stopped" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) env_line ;;
  *) die "usage: $0 start|stop|env" ;;
esac
