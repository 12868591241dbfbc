"""Rule corpus: collect, filter, dedupe and split the corpus."""
from swejepa.corpus import build_corpus, report, write_corpus
from swejepa.runtime import setup_logging
from swejepa.settings import CorpusSettings

log = setup_logging(snakemake.log[0])
cfg, seed = CorpusSettings.from_dict(dict(snakemake.params.corpus)), snakemake.params.seed
res = build_corpus(cfg, seed)
write_corpus(res, cfg, seed, snakemake.output.files, snakemake.output.manifest,
             snakemake.output.skipped, snakemake.output.report, snakemake.output.near_duplicates)
rep = report(res)
log.info("corpus %s: %d kept, %d skipped %s", cfg.name, rep["n_files"], rep["n_skipped"], rep["skipped_by_reason"])
log.info("near-duplicates: %s", rep.get("near_duplicates"))
