"""Rule paper_report: PNG twins of the figures and HTML renderings of the tables,
for `snakemake --report` (categories by experiment section)."""
from swejepa.paper import collect_report
from swejepa.runtime import setup_logging

log = setup_logging(snakemake.log[0])
n = collect_report(list(snakemake.input.figures), list(snakemake.input.tables),
                   snakemake.output.figures, snakemake.output.tables, skip=set(snakemake.params.skip),
                   dpi=int(snakemake.params.dpi))
log.info("report: %s", n)
