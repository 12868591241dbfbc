# Stage: Phase 0 analyses (Experiments 0.1-0.3) over the grid teacher x mask x layer x pool.
# Every analysis reads the teachers' latent HDF5 files (LAYOUT.latents); none re-runs a
# teacher.
#   0.1 stats     one job per (teacher, mask) -> LAYOUT.stats_cell / stats_hist per (layer, pool,
#                 center), pools mean/last/none (none: over token vectors), center raw/centered
#   0.2 retrieval the benchmark LAYOUT.bench_items is built here BEFORE extraction (the extract
#                 job embeds it); one job per teacher -> LAYOUT.retrieval_cell + retrieval_ranks
#                 for pools mean/last and both centers. The bench vectors do not depend on the
#                 mask: no mask axis. Lexical baseline: LAYOUT.retrieval_lexical (+ _ranks).
#                 The combine step writes LAYOUT.retrieval_headline (hard part, CIs).
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
        cells=PLAN.cells(LAYOUT.stats_cell, SETTINGS.grid.pools, PLAN.centers),
        hists=PLAN.cells(LAYOUT.stats_hist, SETTINGS.grid.pools, PLAN.centers),
    params:
        layers=list(SETTINGS.grid.layers),
        pools=list(SETTINGS.grid.pools),
        centers=PLAN.centers,
        stats=SETTINGS.stats.to_dict(),
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
        cells=PLAN.cells(LAYOUT.retrieval_cell, PLAN.vector_pools, PLAN.centers),
        ranks=PLAN.cells(LAYOUT.retrieval_ranks, PLAN.vector_pools, PLAN.centers),
    params:
        layers=list(SETTINGS.grid.layers),
        pools=PLAN.vector_pools,
        centers=PLAN.centers,
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        seed=SETTINGS.seed,
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
        ranks=LAYOUT.retrieval_lexical_ranks(),
    params:
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        seed=SETTINGS.seed,
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
        cells=PLAN.all_cells(LAYOUT.stats_cell, SETTINGS.grid.pools, centers=PLAN.centers),
        hists=PLAN.all_cells(LAYOUT.stats_hist, SETTINGS.grid.pools, centers=PLAN.centers),
    output:
        csv=LAYOUT.stats_all(),
        table=LAYOUT.table("exp01_stats"),
        grid=LAYOUT.table("exp01_stats_grid"),
        figures=[LAYOUT.figure(f"exp01_cosine_hist_{t}_grid", ext) for t in PLAN.teachers for ext in ("pdf", "png")],
        best_worst=multiext(LAYOUT.figure_stem("exp01_cosine_best_worst"), ".pdf", ".png"),
    params:
        teachers=PLAN.teachers,
        layers=list(SETTINGS.grid.layers),
        pools=list(SETTINGS.grid.pools),
        centers=PLAN.centers,
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
        cells=PLAN.all_cells(LAYOUT.retrieval_cell, PLAN.vector_pools, masks=False, centers=PLAN.centers),
        ranks=PLAN.all_cells(LAYOUT.retrieval_ranks, PLAN.vector_pools, masks=False, centers=PLAN.centers),
        lexical=LAYOUT.retrieval_lexical(),
        lexical_ranks=LAYOUT.retrieval_lexical_ranks(),
    output:
        csv=LAYOUT.retrieval_all(),
        headline=LAYOUT.retrieval_headline(),
        table=LAYOUT.table("exp02_retrieval_grid"),
        headline_table=LAYOUT.table("exp02_headline"),
        transforms_table=LAYOUT.table("exp02_transforms"),
        figure=multiext(LAYOUT.figure_stem("exp02_recall_by_layer"), ".pdf", ".png"),
        hard_figure=multiext(LAYOUT.figure_stem("exp02_hard_part"), ".pdf", ".png"),
    params:
        teachers=PLAN.teachers,
        sources={t: SETTINGS.teacher(t).source for t in PLAN.teachers},
        random_teachers=PLAN.random_teachers,
        layers=list(SETTINGS.grid.layers),
        pools=PLAN.vector_pools,
        centers=PLAN.centers,
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        seed=SETTINGS.seed,
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
        cells=lambda wc: PLAN.cells(LAYOUT.retrieval_cell, PLAN.vector_pools, PLAN.centers, teacher=wc.teacher),
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
        grid=LAYOUT.table("exp03_probes_grid"),
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
        headline=LAYOUT.retrieval_headline(),
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
