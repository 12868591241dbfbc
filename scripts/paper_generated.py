"""Rule paper_generated: combined macros and one include per paper section."""
from swejepa.paper import write_sections
from swejepa.runtime import setup_logging

log = setup_logging(snakemake.log[0])
written = write_sections(list(snakemake.input.tables), list(snakemake.input.figures),
                         list(snakemake.input.macros), snakemake.output.macros.rsplit("/", 1)[0],
                         captions=dict(snakemake.params.captions), defaults=snakemake.input.defaults,
                         producers=dict(snakemake.params.producers),
                         verdicts=(list(snakemake.input.verdicts) or [None])[0])
log.info("wrote %s", sorted(map(str, written.values())))
