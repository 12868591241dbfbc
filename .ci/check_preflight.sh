#!/usr/bin/env bash
# Issue 15's acceptance check, from a clean clone of this repository with latexmk hidden
# from PATH: `snakemake -c2 --configfile config/smoke.yaml` must fail in under 30 s,
# before any job, with a message naming latexmk and how to install it.
# Needs snakemake on PATH (e.g. after `bash scripts/setup.sh && . .venv/bin/activate`).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

git clone -q "$repo" "$tmp/clone"

# PATH with latexmk hidden: every directory holding it is replaced by a directory of
# symlinks to everything else in it.
newpath="" i=0
IFS=: read -r -a dirs <<< "$PATH"
for d in "${dirs[@]}"; do
    if [ -n "$d" ] && [ -e "$d/latexmk" ]; then
        s="$tmp/shadow$i"
        mkdir "$s"
        for f in "$d"/*; do [ "$(basename "$f")" = latexmk ] || ln -s "$f" "$s/"; done
        d="$s"
    fi
    newpath="${newpath:+$newpath:}$d"
    i=$((i + 1))
done
if PATH="$newpath" command -v latexmk >/dev/null; then
    echo "check_preflight: could not hide latexmk"; exit 1
fi

cd "$tmp/clone"
start=$(date +%s)
set +e
env -u SWEJEPA_LATEXMK PATH="$newpath" timeout 120 snakemake -c2 --configfile config/smoke.yaml \
    > "$tmp/out.txt" 2>&1
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
cat "$tmp/out.txt"
fail() { echo "check_preflight: FAILED: $*"; exit 1; }
[ "$rc" -ne 0 ] || fail "snakemake succeeded without latexmk"
[ "$rc" -ne 124 ] || fail "snakemake did not stop (timeout)"
grep -q "latexmk" "$tmp/out.txt" || fail "the message does not name latexmk"
grep -q "apt-get install" "$tmp/out.txt" || fail "the message does not say how to install it"
[ ! -e results/corpus ] || fail "a job ran (results/corpus exists)"
[ "$elapsed" -lt 30 ] || fail "took ${elapsed}s (limit 30 s)"
echo "check_preflight: OK (exit $rc after ${elapsed}s, before any job, naming latexmk)"
