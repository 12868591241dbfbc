# SWE-JEPA: the reproducible-paper workflow.
#   snakemake -c2                                  # whole paper, embedded default (CPU, offline)
#   snakemake -c2 --configfile config/smoke.yaml   # tiny slice (tests)
#   snakemake --profile slurm --configfile config/cluster.yaml   # full grid on SLURM
#
# The settings (swejepa/settings.py: every default, validated), the layout of the data
# contract (swejepa/layout.py: every path) and the plan of jobs (swejepa/dag.py) are built
# once here; each rules/<stage>.smk reads them (SETTINGS, LAYOUT, PLAN) and holds one stage.
from snakemake.utils import min_version

min_version("9.0")

import os, sys

# Absolute, so `snakemake -s <repo>/Snakefile -d <elsewhere>` finds the default too.
configfile: os.path.join(workflow.basedir, "config.yaml")


sys.path.insert(0, workflow.basedir)
from swejepa.dag import alternatives, build_plan
from swejepa.settings import Settings

# Rejects unknown keys, wrong types and impossible values, naming each key, before any
# job is scheduled.
SETTINGS = Settings.from_config(config)

# preflight: stop here, before any job, when the requested targets need a tool this
# machine lacks (latexmk for the PDF); -n and other no-job modes only warn.
from swejepa.preflight import check_workflow

check_workflow(SETTINGS, workflow)

PLAN = build_plan(SETTINGS)
LAYOUT = PLAN.layout

# preflight: an `hf` corpus whose dataset cannot be read (missing local file, not in the
# HF cache, gated, unreachable) stops here naming corpus.path; -n only warns.
from swejepa.preflight import check_corpus

check_corpus(SETTINGS, workflow, built=os.path.exists(LAYOUT.corpus_files()))

# parse-time warning: students whose planned epochs over their distinct target regions
# exceed plan.max_epochs (the cost plan's sizes; python -m swejepa.plan has the details)
from swejepa.preflight import check_epochs

check_epochs(SETTINGS, PLAN, workflow)

include: "rules/corpus.smk"
include: "rules/mask.smk"
include: "rules/properties.smk"
include: "rules/teacher.smk"
include: "rules/extract.smk"
include: "rules/phase0.smk"
include: "rules/student.smk"
include: "rules/decoder.smk"
include: "rules/phase2.smk"
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        PLAN.targets,
