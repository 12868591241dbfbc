"""Rule phase0_retrieval_lexical: the lexical baseline of Experiment 0.2 (TF-IDF over identifiers):
per-query ranks and metrics per task, origin and query transform with bootstrap intervals."""
from swejepa.phase0.jobs import write_csv
from swejepa.phase0.lexical import lexical_bench_ranks
from swejepa.phase0.retrieval import rank_metrics, read_items
from swejepa.runtime import setup_logging
from swejepa.settings import RetrievalSettings

log = setup_logging(snakemake.log[0])
r = RetrievalSettings.from_dict(snakemake.params.retrieval)
ranks = lexical_bench_ranks(read_items(snakemake.input.bench_items))
write_csv(ranks, snakemake.output.ranks)
m = rank_metrics(ranks, r.ks, by_transform=True, n_boot=r.bootstrap, seed=snakemake.params.seed, level=r.ci_level)
m.insert(0, "method", "lexical")
write_csv(m, snakemake.output.csv)
log.info("\n%s", m[m["transform"] == "all"].to_string())
