# SWE-JEPA: the reproducible-paper workflow.
#   snakemake -c2                              # whole paper, embedded default (CPU, offline)
#   snakemake -c2 --configfile config/smoke.yaml   # tiny slice (tests)
#   snakemake --profile slurm --configfile config/cluster.yaml   # full grid on SLURM
from snakemake.utils import min_version

min_version("9.0")

import os, sys

# Absolute, so `snakemake -s <repo>/Snakefile -d <elsewhere>` finds the default too.
configfile: os.path.join(workflow.basedir, "config.yaml")


sys.path.insert(0, workflow.basedir)
from swejepa.config import validate_config

# Rejects unknown keys, wrong types and impossible values, naming the key,
# before any job is scheduled.
validate_config(config, os.path.join(workflow.basedir, "swejepa", "schemas", "config.schema.yaml"))

# preflight (issue 15): stop here, before any job, when the requested targets need a
# tool this machine lacks (latexmk for the PDF); -n and other no-job modes only warn.
from swejepa.preflight import check_workflow
check_workflow(config, workflow)

include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/mask.smk"
include: "rules/properties.smk"
include: "rules/teacher.smk"
include: "rules/extract.smk"
include: "rules/phase0.smk"
include: "rules/student.smk"
include: "rules/decoder.smk"
include: "rules/phase2.smk"
# Keep LAST: consumes the complete PAPER_* lists and ALL_TARGETS of the stages above.
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS,
