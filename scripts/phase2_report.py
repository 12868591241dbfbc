"""Experiments 2.1 and 2.2: CSVs (one row per student), tables, figures, macros
(rules/phase2.smk: phase2_report)."""
from swejepa.phase2.report import write_all
from swejepa.runtime import setup_logging

log = setup_logging(snakemake.log[0])
write_all(snakemake.input, snakemake.output, snakemake.params)
