"""Rule phase0_probes: Experiment 0.3, linear probes for every (layer, pool) of one (teacher, mask) + the surface baseline."""
from threadpoolctl import threadpool_limits

from swejepa.phase0.jobs import probe_cells
from swejepa.layout import Layout
from swejepa.runtime import setup_logging
from swejepa.settings import ProbeSettings

setup_logging(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
with threadpool_limits(snakemake.threads):
    probe_cells(snakemake.input.latents, w.teacher, w.mask, snakemake.input.regions, snakemake.input.properties,
                p.layers, p.pools, ProbeSettings.from_dict(p.probes), p.seed, Layout(**p.layout))
