"""Rule phase0_stats: Experiment 0.1, differentiation statistics for every (layer, pool) of one (teacher, mask)."""
from threadpoolctl import threadpool_limits

from swejepa.phase0.jobs import stats_cells
from swejepa.layout import Layout
from swejepa.runtime import setup_logging
from swejepa.settings import StatsSettings, VerdictSettings

setup_logging(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
with threadpool_limits(snakemake.threads):
    stats_cells(snakemake.input.latents, w.teacher, w.mask, p.layers, p.pools, p.centers,
                StatsSettings.from_dict(p.stats), p.seed, Layout(**p.layout))
