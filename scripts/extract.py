"""Rule extract: one teacher, one forward pass over (a shard of) the corpus -> HDF5."""
from swejepa.extract import extract
from swejepa.runtime import set_threads, setup_logging

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
inp = snakemake.input
masks = dict(zip(snakemake.params.masks, inp.masks if isinstance(inp.masks, list) else [inp.masks]))
extract(
    entry=snakemake.params.entry,
    index=snakemake.params.index,
    files_path=inp.files,
    mask_paths=masks,
    manifest_path=inp.manifest,
    bench_path=getattr(inp, "bench", None) if "bench" in inp.keys() else None,
    out_h5=snakemake.output.h5,
    report_path=snakemake.output.report,
    results_dir="results",
    layers=snakemake.params.layers,
    settings=snakemake.params.settings,
    seed=snakemake.params.seed,
    shard=int(snakemake.wildcards.shard),
    n_shards=int(snakemake.wildcards.nshards),
    log=log.info,
)
