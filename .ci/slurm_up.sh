#!/usr/bin/env bash
# Start a single-node SLURM on localhost for the CI test of `snakemake --profile slurm`
# (tests/test_slurm.py). Idempotent: a second call while the daemons run does nothing.
#
#   bash .ci/slurm_up.sh      # install (if missing), configure, start, wait for an idle node
#   bash .ci/slurm_down.sh    # stop the daemons this script started (by PID)
#
# What it sets up (Debian's SLURM, no systemd, no slurmdbd):
#   - /etc/slurm/slurm.conf (the default path: the slurm executor's jobstep strips every
#     SLURM_* variable, SLURM_CONF included, before its inner srun), one node `localhost`
#     with the machine's CPUs/memory and two fake GPUs (GRES on /dev/null and /dev/zero,
#     type `fake`), partition `debug`; no accounting, so the profile's CI overlay uses
#     `slurm-status-command: squeue` instead of sacct.
#   - munged (as user munge), slurmctld, `slurmd -N localhost`, started by hand; their PIDs
#     go to $SWEJEPA_SLURM_STATE/pids (default /tmp/swejepa-slurm/pids).
set -euo pipefail

STATE="${SWEJEPA_SLURM_STATE:-/tmp/swejepa-slurm}"
PIDS="$STATE/pids"
CONF_DIR=/etc/slurm
MARK="# written by swejepa .ci/slurm_up.sh"
GPU_TYPE="${SWEJEPA_SLURM_GPU_TYPE:-fake}"
mkdir -p "$STATE"

log() { echo "[slurm_up] $*"; }

node_state() { timeout 10 sinfo -h -N -n localhost -o %t 2>/dev/null | head -n1 || true; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# ---------------------------------------------------------------- already up?
if [ -f "$PIDS" ]; then
    all=1
    while read -r name pid; do alive "$pid" || all=0; done < "$PIDS"
    st="$(node_state)"
    if [ "$all" = 1 ] && [[ "$st" =~ ^(idle|mix|alloc) ]]; then
        log "already running (node localhost: $st)"
        exit 0
    fi
    log "stale state in $PIDS; stopping what is left"
    bash "$(dirname "$0")/slurm_down.sh" || true
fi

# A controller we did not start (a real cluster, a developer's setup): leave it alone.
if command -v sinfo >/dev/null && [ -f "$CONF_DIR/slurm.conf" ] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
    if timeout 10 sinfo -h >/dev/null 2>&1; then
        log "a SLURM controller not started by this script already answers sinfo; using it as is"
        exit 0
    fi
    log "refusing to overwrite $CONF_DIR/slurm.conf (not written by this script)"
    exit 1
fi

# ---------------------------------------------------------------- install
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

# ---------------------------------------------------------------- munge
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
fi
chown munge:munge /etc/munge/munge.key /var/lib/munge /var/log/munge /run/munge
chmod 0400 /etc/munge/munge.key
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge

# ---------------------------------------------------------------- configuration
mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
node_line="$(slurmd -C | head -n1)"              # NodeName=<host> CPUs=.. RealMemory=.. ...
cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")"
topo="$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<<"$node_line" || true)"
mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")"
mem=$(( mem > 2048 ? mem - 512 : mem ))           # leave a little to the OS
defmem=$(( mem / cpus ))
defmem=$(( defmem > 1024 ? 1024 : defmem ))      # DefMemPerCPU: otherwise one job takes the node

cat > "$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=swejepa-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$defmem
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# The slurm executor polls with squeue here (no accounting); finished jobs must stay
# visible for longer than 3x its init seconds or it falls back to sacct.
MinJobAge=600
ReturnToService=2
SlurmdTimeout=300
KillWait=30
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$mem Gres=gpu:$GPU_TYPE:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

cat > "$CONF_DIR/gres.conf" <<EOF
$MARK
# Fake GPUs for CI: File= must name existing character devices.
AutoDetect=off
NodeName=localhost Name=gpu Type=$GPU_TYPE File=/dev/null
NodeName=localhost Name=gpu Type=$GPU_TYPE File=/dev/zero
EOF
log "wrote $CONF_DIR/slurm.conf (CPUs=$cpus RealMemory=$mem DefMemPerCPU=$defmem, 2 fake GPUs)"

# ---------------------------------------------------------------- start
: > "$PIDS"
rm -f "$STATE"/slurmctld.pid "$STATE"/slurmd.pid

runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid \
    || { log "munged failed to start"; exit 1; }
for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
echo "munged $(cat /run/munge/munged.pid)" >> "$PIDS"

slurmctld -c     # -c: start without old job state
for _ in $(seq 100); do [ -s "$STATE/slurmctld.pid" ] && break; sleep 0.1; done
[ -s "$STATE/slurmctld.pid" ] || { log "slurmctld did not start"; tail -20 /var/log/slurm/slurmctld.log; exit 1; }
echo "slurmctld $(cat "$STATE/slurmctld.pid")" >> "$PIDS"

slurmd -N localhost
for _ in $(seq 100); do [ -s "$STATE/slurmd.pid" ] && break; sleep 0.1; done
[ -s "$STATE/slurmd.pid" ] || { log "slurmd did not start"; tail -20 /var/log/slurm/slurmd.log; exit 1; }
echo "slurmd $(cat "$STATE/slurmd.pid")" >> "$PIDS"

# ---------------------------------------------------------------- wait for an idle node
for i in $(seq 60); do
    st="$(node_state)"
    case "$st" in
        idle*|mix*|alloc*) log "node localhost is $st (pids: $(tr '\n' ' ' < "$PIDS"))"; exit 0 ;;
        down*|drain*|drng*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
log "node did not become idle (state: '$(node_state)')"
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log || true
exit 1
