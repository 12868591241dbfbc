"""Rule phase0_retrieval: Experiment 0.2, retrieval per-query ranks and metrics of one teacher's bench vectors for every (layer, pool, center)."""
from threadpoolctl import threadpool_limits

from swejepa.phase0.jobs import retrieval_cells
from swejepa.layout import Layout
from swejepa.runtime import setup_logging
from swejepa.settings import RetrievalSettings

setup_logging(snakemake.log[0])
p = snakemake.params
with threadpool_limits(snakemake.threads):
    retrieval_cells(snakemake.input.latents, snakemake.wildcards.teacher, snakemake.input.bench_items, p.layers,
                    p.pools, p.centers, RetrievalSettings.from_dict(p.retrieval), p.seed, Layout(**p.layout))
