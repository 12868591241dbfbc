"""Browsable retrieval report of one teacher at its best cell (Experiment 0.2, manual evaluation)."""
from swejepa.phase0.report import retrieval_report
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
retrieval_report(snakemake.wildcards.teacher, snakemake.input.latents, snakemake.input.bench_items, snakemake.input.cells,
                 snakemake.output.report, snakemake.params.n_queries, snakemake.params.seed)
