"""Rule decoder_report (Experiment 3.1, step 4): table, figure and LaTeX macros from the evaluation CSVs."""
from swejepa.decoder.report import report
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
report(snakemake.input.summary, snakemake.input.heldout, snakemake.output.table,
       snakemake.output.figure[0][: -len(".pdf")], snakemake.output.macros, ks=tuple(snakemake.params.ks))
