# Latent extraction: ONE job per (teacher, shard) — one forward pass over the corpus;
# layers, pools and masks are views of it. Layout: README "Data layout" (latents/).
#   results/latents/{teacher}/shard{i}of{n}.h5           (written to a temp name, renamed)
#   results/latents/{teacher}/report_shard{i}of{n}.json  counts (truncated regions, windows,
#                                                        padding, precision check, tokens/s)
# Needs rules/teacher.smk (TEACHERS, teacher_entry, ...) included before it.

include: "extract_common.smk"


rule extract:
    input:
        unpack(extract_inputs),
    output:
        h5=f"{RES}/latents/{{teacher}}/shard{{shard}}of{{nshards}}.h5",
        report=f"{RES}/latents/{{teacher}}/report_shard{{shard}}of{{nshards}}.json",
    params:
        entry=lambda wc: teacher_entry(wc.teacher),
        index=lambda wc: teacher_index(wc.teacher),
        masks=MASKS,
        layers=config["grid"]["layers"],
        settings={k: v for k, v in EXTRACT_CFG.items() if k not in ("mem_mb", "runtime", "gpu", "threads")},
        seed=config["seed"],
    wildcard_constraints:
        teacher=_alt(TEACHER_NAMES),
        shard=r"\d+",
        nshards=r"\d+",
    log:
        logfile("extract", "{teacher}/shard{shard}of{nshards}"),
    benchmark:
        benchfile("extract", "{teacher}/shard{shard}of{nshards}")
    conda:
        "../envs/torch.yaml"
    threads: int(EXTRACT_CFG.get("threads", 2))
    resources:
        mem_mb=int(EXTRACT_CFG.get("mem_mb", 6000)),
        runtime=int(EXTRACT_CFG.get("runtime", 60)),
        gpu=teacher_gpus,
    script:
        "../scripts/extract.py"


for _t in TEACHER_NAMES:
    ALL_TARGETS += latent_files(_t)
