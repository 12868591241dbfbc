"""Rule paper_corpus_macros: corpus and mask counts the paper's prose quotes."""
from swejepa.paper import corpus_macros
from swejepa.runtime import setup_logging
from swejepa.tex import write_macros

log = setup_logging(snakemake.log[0])
values = corpus_macros(snakemake.input.manifest, dict(zip(snakemake.params.masks, snakemake.input.masks)))
write_macros(values, snakemake.output[0], digits=2)
log.info("%s", values)
