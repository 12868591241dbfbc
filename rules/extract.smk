# Latent extraction: ONE job per (teacher, shard) — one forward pass over the corpus;
# layers, pools and masks are views of it. Layout: README "Data layout" (latents/).
#   LAYOUT.latents         results/latents/{teacher}/shard{i}of{n}.h5  (temp name, renamed)
#   LAYOUT.latents_report  results/latents/{teacher}/report_shard{i}of{n}.json  counts
#                          (truncated regions, windows, padding, precision check, tokens/s)
# The retrieval benchmark items (rule phase0_retrieval_items) are embedded in the same job.


rule extract:
    input:
        unpack(PLAN.extract_inputs),
    output:
        h5=LAYOUT.latents(),
        report=LAYOUT.latents_report(),
    params:
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        masks=list(SETTINGS.masks.strategies),
        layers=list(SETTINGS.grid.layers),
        extract=SETTINGS.extract.job().to_dict(),
        # sizes the per-token set only with extract.token_epochs (else 0: no rerun when students change)
        student_examples=PLAN.student_examples if SETTINGS.extract.token_epochs else 0,
        seed=SETTINGS.seed,
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
        shard=r"\d+",
        nshards=r"\d+",
    log:
        LAYOUT.log("extract", "{teacher}/shard{shard}of{nshards}"),
    benchmark:
        LAYOUT.benchmark("extract", "{teacher}/shard{shard}of{nshards}")
    conda:
        "../envs/torch.yaml"
    # 2-thread jobs before the 1-thread wave (on -c2 a 2-thread job cannot start beside a
    # 1-thread one); MiniLM's extraction is the run's longest job
    priority: 15
    threads: SETTINGS.extract.threads
    resources:
        mem_mb=SETTINGS.extract.mem_mb,
        runtime=SETTINGS.extract.runtime,
        gpu=SETTINGS.extract.gpu,
    script:
        "../scripts/extract.py"
