"""Experiment 0.2: retrieval metrics of one teacher's bench vectors for every (layer, pool)."""
from threadpoolctl import threadpool_limits

from swejepa.analysis.run import retrieval_cells
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
base = snakemake.output.cells[0].rsplit("/", 1)[0]
with threadpool_limits(snakemake.threads):
    retrieval_cells(snakemake.input.latents, snakemake.wildcards.teacher, snakemake.input.bench_items, p.layers, p.pools,
                    tuple(p.ks), dict(p.index), lambda l, q: f"{base}/{l}_{q}.csv")
