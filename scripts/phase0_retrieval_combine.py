"""Combine the per-cell CSVs of Phase 0 (retrieval) into the table, figure(s) and a combined CSV."""
from swejepa.phase0.report import combine_retrieval
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
combine_retrieval(snakemake.input, snakemake.output, snakemake.params)
