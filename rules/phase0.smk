# Stage: Phase 0 analyses (Experiments 0.1-0.3) over the grid teacher x mask x layer x pool.
# Every analysis reads the teachers' latent HDF5 files (LAYOUT.latents); none re-runs a
# teacher.
#   0.1 stats     one job per (teacher, mask) -> LAYOUT.stats_cell / stats_hist per (layer, pool),
#                 pools mean/last/none (none: over token vectors)
#   0.2 retrieval the benchmark LAYOUT.bench_items is built here BEFORE extraction (the extract
#                 job embeds it); one job per teacher -> LAYOUT.retrieval_cell for pools
#                 mean/last. The bench vectors do not depend on the mask: no mask axis.
#                 Lexical baseline: LAYOUT.retrieval_lexical.
#   0.3 probes    one job per (teacher, mask) -> LAYOUT.probes_cell for pools mean/last
#                 (+ LAYOUT.probes_surface, the body-length baseline).


rule phase0_retrieval_items:
    input:
        files=LAYOUT.corpus_files(),
        regions=LAYOUT.mask_csv("ast"),
    output:
        bench_items=LAYOUT.bench_items(),
        report=LAYOUT.bench_report(),
    params:
        bench=SETTINGS.retrieval.bench.to_dict(),
        seed=SETTINGS.seed,
    threads: SETTINGS.retrieval.bench.verify_workers
    log:
        LAYOUT.log("phase0_retrieval_items"),
    benchmark:
        LAYOUT.benchmark("phase0_retrieval_items")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/phase0_retrieval_items.py"


rule phase0_stats:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
    output:
        cells=PLAN.cells(LAYOUT.stats_cell, SETTINGS.grid.pools),
        hists=PLAN.cells(LAYOUT.stats_hist, SETTINGS.grid.pools),
    params:
        layers=list(SETTINGS.grid.layers),
        pools=list(SETTINGS.grid.pools),
        stats=SETTINGS.stats.to_dict(),
        ci=SETTINGS.verdicts.ci().to_dict(),  # cos_mean CI over the sampled regions (Exp 0.1's verdict)
        seed=SETTINGS.seed,
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
        mask=alternatives(PLAN.mask_names),
    log:
        LAYOUT.log("phase0_stats", "{teacher}/{mask}"),
    benchmark:
        LAYOUT.benchmark("phase0_stats", "{teacher}/{mask}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/phase0_stats.py"


rule phase0_retrieval:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        bench_items=LAYOUT.bench_items(),
    output:
        cells=PLAN.cells(LAYOUT.retrieval_cell, PLAN.vector_pools),
    params:
        layers=list(SETTINGS.grid.layers),
        pools=PLAN.vector_pools,
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
    log:
        LAYOUT.log("phase0_retrieval", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("phase0_retrieval", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/phase0_retrieval.py"


rule phase0_retrieval_lexical:
    input:
        bench_items=LAYOUT.bench_items(),
    output:
        csv=LAYOUT.retrieval_lexical(),
    params:
        ks=list(SETTINGS.retrieval.ks),
    log:
        LAYOUT.log("phase0_retrieval_lexical"),
    benchmark:
        LAYOUT.benchmark("phase0_retrieval_lexical")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_retrieval_lexical.py"


rule phase0_probes:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        regions=LAYOUT.mask_csv(),
        properties=LAYOUT.properties(),
    output:
        cells=PLAN.cells(LAYOUT.probes_cell, PLAN.vector_pools),
        surface=LAYOUT.probes_surface(),
    params:
        layers=list(SETTINGS.grid.layers),
        pools=PLAN.vector_pools,
        probes=SETTINGS.probes.to_dict(),
        seed=SETTINGS.seed,
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
        mask=alternatives(PLAN.mask_names),
    log:
        LAYOUT.log("phase0_probes", "{teacher}/{mask}"),
    benchmark:
        LAYOUT.benchmark("phase0_probes", "{teacher}/{mask}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/phase0_probes.py"


rule phase0_stats_combine:
    input:
        cells=PLAN.all_cells(LAYOUT.stats_cell, SETTINGS.grid.pools),
        hists=PLAN.all_cells(LAYOUT.stats_hist, SETTINGS.grid.pools),
    output:
        csv=LAYOUT.stats_all(),
        table=LAYOUT.table("exp01_stats"),
        figures=[LAYOUT.figure(f"exp01_cosine_hist_{t}", ext) for t in PLAN.teachers for ext in ("pdf", "png")],
    params:
        teachers=PLAN.teachers,
        layers=list(SETTINGS.grid.layers),
        pools=list(SETTINGS.grid.pools),
        main_mask=PLAN.main_mask,
    log:
        LAYOUT.log("phase0_stats_combine"),
    benchmark:
        LAYOUT.benchmark("phase0_stats_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_stats_combine.py"


rule phase0_retrieval_combine:
    input:
        cells=PLAN.all_cells(LAYOUT.retrieval_cell, PLAN.vector_pools, masks=False),
        lexical=LAYOUT.retrieval_lexical(),
    output:
        csv=LAYOUT.retrieval_all(),
        table=LAYOUT.table("exp02_retrieval"),
        figure=multiext(LAYOUT.figure_stem("exp02_recall_by_layer"), ".pdf", ".png"),
    params:
        teachers=PLAN.teachers,
        layers=list(SETTINGS.grid.layers),
        pools=PLAN.vector_pools,
        ks=list(SETTINGS.retrieval.ks),
    log:
        LAYOUT.log("phase0_retrieval_combine"),
    benchmark:
        LAYOUT.benchmark("phase0_retrieval_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_retrieval_combine.py"


rule phase0_retrieval_report:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        bench_items=LAYOUT.bench_items(),
        cells=lambda wc: PLAN.cells(LAYOUT.retrieval_cell, PLAN.vector_pools, teacher=wc.teacher),
    output:
        report=LAYOUT.retrieval_report(),
    params:
        n_queries=SETTINGS.retrieval.report_queries,
        seed=SETTINGS.seed,
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
    log:
        LAYOUT.log("phase0_retrieval_report", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("phase0_retrieval_report", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_retrieval_report.py"


rule phase0_probes_combine:
    input:
        cells=PLAN.all_cells(LAYOUT.probes_cell, PLAN.vector_pools),
        surface=[LAYOUT.probes_surface(t, m) for t in PLAN.teachers for m in SETTINGS.masks.strategies],
    output:
        csv=LAYOUT.probes_all(),
        table=LAYOUT.table("exp03_probes"),
        figure=multiext(LAYOUT.figure_stem("exp03_probe_heatmap"), ".pdf", ".png"),
    params:
        teachers=PLAN.teachers,
        layers=list(SETTINGS.grid.layers),
        main_mask=PLAN.main_mask,
        main_pool=PLAN.main_pool,
        # selectivity: score minus the better of the surface baseline and this control
        random_teacher=PLAN.random_control,
        level=SETTINGS.verdicts.level,
    log:
        LAYOUT.log("phase0_probes_combine"),
    benchmark:
        LAYOUT.benchmark("phase0_probes_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_probes_combine.py"


rule phase0_macros:
    input:
        stats=LAYOUT.stats_all(),
        retrieval=LAYOUT.retrieval_all(),
        probes=LAYOUT.probes_all(),
        bench=LAYOUT.bench_report(),
    output:
        macros=LAYOUT.macros("phase0"),
    params:
        main_mask=PLAN.main_mask,
    log:
        LAYOUT.log("phase0_macros"),
    benchmark:
        LAYOUT.benchmark("phase0_macros")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/phase0_macros.py"
