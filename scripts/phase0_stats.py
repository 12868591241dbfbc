"""Experiment 0.1: differentiation statistics for every (layer, pool) of one (teacher, mask)."""
from threadpoolctl import threadpool_limits

from swejepa.analysis.run import stats_cells
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
base = f"{snakemake.output.cells[0].rsplit('/', 1)[0]}"
with threadpool_limits(snakemake.threads):
    stats_cells(snakemake.input.latents, w.teacher, w.mask, p.layers, p.pools, p.max_samples, p.max_tokens,
                p.seed, lambda l, q: f"{base}/{l}_{q}.csv", lambda l, q: f"{base}/{l}_{q}_hist.csv")
