"""Rule corpus: collect, filter, dedupe and split the corpus."""
from swejepa.corpus import build_corpus, report, write_corpus
from swejepa.runtime import setup_logging

log = setup_logging(snakemake.log[0])
cfg, seed = dict(snakemake.params.corpus), snakemake.params.seed
res = build_corpus(cfg, seed)
write_corpus(res, cfg, seed, snakemake.output.files, snakemake.output.manifest,
             snakemake.output.skipped, snakemake.output.report)
log.info("corpus %s: %s", cfg["name"], report(res))
