"""Rule phase0_retrieval_lexical: the lexical baseline of Experiment 0.2 (TF-IDF over identifiers)."""
from swejepa.phase0.lexical import lexical_bench_metrics
from swejepa.phase0.retrieval import read_items
from swejepa.phase0.jobs import write_csv
from swejepa.runtime import setup_logging

log = setup_logging(snakemake.log[0])
m = lexical_bench_metrics(read_items(snakemake.input.bench_items), tuple(snakemake.params.ks))
m.insert(0, "method", "lexical")
write_csv(m, snakemake.output.csv)
log.info("\n%s", m.to_string())
