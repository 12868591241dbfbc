#!/usr/bin/env bash
# The README's first step: a fresh Debian/Ubuntu machine with Python 3.10-3.12 -> ready
# for `snakemake -c2` (the whole paper, results/paper/main.pdf).
#
#   bash scripts/setup.sh && . .venv/bin/activate && snakemake -c2
#
# 1. System packages the workflow needs beyond Python: TeX (latexmk, pdflatex, bibtex) for
#    the PDF and poppler (pdftoppm) for PNG renderings, plus python3-venv where the
#    interpreter lacks it. Installed with apt-get when that is possible (root, or sudo
#    without a password prompt); otherwise the apt line is printed and setup goes on:
#    the workflow then stops before any job with the same instructions, and
#    `snakemake -c2 paper_sources` builds everything except the PDF.
# 2. A virtual environment `.venv/` (git-ignored) with this package installed editable,
#    test extras included: `pip install -e '.[test]'`. It sees the interpreter's own site
#    packages (--system-site-packages), so what is already installed is not downloaded
#    again, and pip works where the system Python is "externally managed" (PEP 668).
#
# Environment: PYTHON (interpreter, default python3), SWEJEPA_VENV (default .venv),
# SWEJEPA_SKIP_APT=1 (do not try apt-get). Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV="${SWEJEPA_VENV:-.venv}"
log() { echo "[setup] $*"; }

command -v "$PY" >/dev/null || { log "no '$PY' on PATH: install Python 3.10-3.12 (apt-get install -y python3)"; exit 1; }
if ! "$PY" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
    log "$("$PY" -V 2>&1) found; the workflow needs Python 3.10-3.12 (set PYTHON=python3.12 or similar)"
    exit 1
fi
pyver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

# ------------------------------------------------------------------ system packages
# The package list lives in swejepa/preflight.py (the same module that checks, when the
# workflow is parsed, that the requested targets have what they need).
read -r -a pkgs <<< "$(PYTHONPATH=. "$PY" -m swejepa.preflight apt-packages)"
need=()
for tool in latexmk pdflatex bibtex pdftoppm; do
    command -v "$tool" >/dev/null || { need=("${pkgs[@]}"); break; }
done
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null && [ ! -x "$VENV/bin/python" ]; then
    need+=("python$pyver-venv")
fi

if [ "${#need[@]}" -eq 0 ]; then
    log "system packages: TeX and poppler already installed"
elif [ "${SWEJEPA_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
    log "not installing system packages (SWEJEPA_SKIP_APT=1 or no apt-get). Needed: ${need[*]}"
    log "  (Debian/Ubuntu: sudo apt-get install -y ${need[*]}; without TeX: snakemake -c2 paper_sources)"
else
    as_root=""
    if [ "$(id -u)" = 0 ]; then
        as_root="env"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root="sudo -n env"
    fi
    if [ -z "$as_root" ]; then
        log "cannot install system packages (not root, no password-less sudo). Run:"
        log "  sudo apt-get install -y ${need[*]}"
        log "then this script again (or build everything but the PDF: snakemake -c2 paper_sources)"
    else
        log "installing with apt-get: ${need[*]}"
        $as_root DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
        $as_root DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends "${need[@]}" >/dev/null
        log "system packages installed"
    fi
fi

# ------------------------------------------------------------------ Python environment
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV ($("$PY" -V 2>&1), --system-site-packages)"
    "$PY" -m venv --system-site-packages "$VENV"
fi
log "pip install -e '.[test]' into $VENV"
"$VENV/bin/python" -m pip install -q -e '.[test]'
# A snakemake that pip found already installed in the system site packages has its
# command outside the venv; give the venv its own, so `snakemake` runs this Python.
if [ ! -x "$VENV/bin/snakemake" ]; then
    printf '#!%s\nimport sys\nfrom snakemake.cli import main\nsys.exit(main())\n' \
        "$(cd "$VENV/bin" && pwd)/python" > "$VENV/bin/snakemake"
    chmod +x "$VENV/bin/snakemake"
fi
log "done. Next:  . $VENV/bin/activate && snakemake -c2"
