"""Rule extract: one teacher, one forward pass over (a shard of) the corpus -> HDF5."""
from swejepa.extract import extract
from swejepa.runtime import set_threads, setup_logging
from swejepa.settings import ExtractSettings, TeacherSpec

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
inp, p = snakemake.input, snakemake.params
extract(
    teacher=TeacherSpec.from_dict(p.teacher),
    index=p.index,
    files_path=inp.files,
    mask_paths=dict(zip(p.masks, inp.masks)),
    manifest_path=inp.manifest,
    bench_path=inp.bench,
    out_h5=snakemake.output.h5,
    report_path=snakemake.output.report,
    layers=p.layers,
    settings=ExtractSettings.from_dict(p.extract),
    seed=p.seed,
    shard=int(snakemake.wildcards.shard),
    n_shards=int(snakemake.wildcards.nshards),
    student_examples=int(p.student_examples),
    log=log.info,
)
