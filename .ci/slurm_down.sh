#!/usr/bin/env bash
# Stop the daemons .ci/slurm_up.sh started, by the PIDs it recorded (never by name).
set -uo pipefail

STATE="${SWEJEPA_SLURM_STATE:-/tmp/swejepa-slurm}"
PIDS="$STATE/pids"
[ -f "$PIDS" ] || { echo "[slurm_down] nothing to stop ($PIDS missing)"; exit 0; }

# Cancel what is left in the queue first, so slurmd has no job steps to wait for.
command -v scancel >/dev/null && timeout 10 scancel --full --partition=debug 2>/dev/null || true

# Reverse start order: slurmd, slurmctld, munged.
tac "$PIDS" | while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            echo "[slurm_down] $name ($pid) killed"
        else
            echo "[slurm_down] $name ($pid) stopped"
        fi
    else
        echo "[slurm_down] $name ($pid) was not running"
    fi
done
rm -f "$PIDS"
exit 0
