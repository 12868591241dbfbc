"""Experiment 0.3: linear probes for every (layer, pool) of one (teacher, mask) + surface baseline."""
from threadpoolctl import threadpool_limits

from swejepa.analysis.run import probe_cells
from swejepa.runtime import setup_logging

setup_logging(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
base = snakemake.output.cells[0].rsplit("/", 1)[0]
with threadpool_limits(snakemake.threads):
    probe_cells(snakemake.input.latents, w.teacher, w.mask, snakemake.input.regions, snakemake.input.properties,
                p.layers, p.pools, dict(p.cfg), lambda l, q: f"{base}/{l}_{q}.csv", snakemake.output.surface)
