"""LaTeX number macros of Phase 0 (results/macros/phase0.tex)."""
from swejepa.phase0.report import phase0_macros
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
phase0_macros(snakemake.input, snakemake.output.macros, snakemake.params.main_mask)
