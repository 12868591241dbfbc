# Stage: Phase 0 analyses (Experiments 0.1-0.3) over the grid teacher x mask x layer x pool.
# Every analysis reads the teachers' latent HDF5 files (results/latents/{teacher}/
# shard{i}of{n}.h5, written by the extract rules); none re-runs a teacher.
#   0.1 stats     one job per (teacher, mask) -> results/stats/{teacher}/{mask}/{layer}_{pool}.csv
#                 (+ _hist.csv), pools mean/last/none (none: over token vectors)
#   0.2 retrieval the benchmark results/bench/retrieval_items.jsonl is built here BEFORE
#                 extraction (the extract job embeds it); one job per teacher ->
#                 results/retrieval/{teacher}/{layer}_{pool}.csv for pools mean/last only.
#                 The bench vectors (/bench/{layer}/{pool}) do not depend on the mask, so
#                 retrieval has no mask axis. Lexical baseline: results/retrieval/lexical.csv.
#   0.3 probes    one job per (teacher, mask) -> results/probes/{teacher}/{mask}/{layer}_{pool}.csv
#                 for pools mean/last only (+ surface.csv, the body-length baseline).

include: "phase0_common.smk"


rule retrieval_items:
    input:
        files=f"{RES}/corpus/{CORPUS}/files.jsonl",
        regions=f"{RES}/masks/{CORPUS}/ast.csv",
    output:
        bench_items=f"{RES}/bench/retrieval_items.jsonl",
        report=f"{RES}/bench/retrieval_items_report.json",
    params:
        bench=config["retrieval"]["bench"],
        seed=config["seed"],
    threads: 2
    log:
        logfile("retrieval_items"),
    benchmark:
        benchfile("retrieval_items")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/phase0_bench.py"


rule phase0_stats:
    input:
        latents=p0_latents,
    output:
        cells=p0_cells(P0_STATS_CELL, P0_POOLS),
        hists=p0_cells(P0_STATS_HIST, P0_POOLS),
    params:
        layers=P0_LAYERS,
        pools=P0_POOLS,
        max_samples=config["stats"]["max_samples"],
        max_tokens=config["stats"]["max_tokens"],
        seed=config["seed"],
    wildcard_constraints:
        teacher="[^/]+",
        mask="regex|ast",
    log:
        logfile("phase0_stats", "{teacher}/{mask}"),
    benchmark:
        benchfile("phase0_stats", "{teacher}/{mask}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/phase0_stats.py"


rule phase0_retrieval:
    input:
        latents=p0_latents,
        bench_items=f"{RES}/bench/retrieval_items.jsonl",
    output:
        cells=p0_cells(P0_RETRIEVAL_CELL, P0_VPOOLS),
    params:
        layers=P0_LAYERS,
        pools=P0_VPOOLS,
        ks=config["retrieval"]["ks"],
        index={k: config["retrieval"][k] for k in ("index", "nlist", "nprobe", "hnsw_m")},
    wildcard_constraints:
        teacher="[^/]+",
    log:
        logfile("phase0_retrieval", "{teacher}"),
    benchmark:
        benchfile("phase0_retrieval", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/phase0_retrieval.py"


rule phase0_lexical:
    input:
        bench_items=f"{RES}/bench/retrieval_items.jsonl",
    output:
        csv=f"{RES}/retrieval/lexical.csv",
    params:
        ks=config["retrieval"]["ks"],
    log:
        logfile("phase0_lexical"),
    benchmark:
        benchfile("phase0_lexical")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_lexical.py"


rule phase0_probes:
    input:
        latents=p0_latents,
        regions=f"{RES}/masks/{CORPUS}/{{mask}}.csv",
        properties=f"{RES}/properties/{CORPUS}/properties.csv",
    output:
        cells=p0_cells(P0_PROBES_CELL, P0_VPOOLS),
        surface=f"{RES}/probes/{{teacher}}/{{mask}}/surface.csv",
    params:
        layers=P0_LAYERS,
        pools=P0_VPOOLS,
        cfg={**config["probes"], "seed": config["seed"]},
    wildcard_constraints:
        teacher="[^/]+",
        mask="regex|ast",
    log:
        logfile("phase0_probes", "{teacher}/{mask}"),
    benchmark:
        benchfile("phase0_probes", "{teacher}/{mask}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/phase0_probes.py"


P0_MAIN_MASK = "ast" if "ast" in MASKS else MASKS[0]  # mask shown in the paper tables

rule phase0_stats_combine:
    input:
        cells=[c for t in P0_TEACHERS for m in MASKS
               for c in p0_cells(P0_STATS_CELL, P0_POOLS, teacher=t, mask=m)],
        hists=[c for t in P0_TEACHERS for m in MASKS
               for c in p0_cells(P0_STATS_HIST, P0_POOLS, teacher=t, mask=m)],
    output:
        csv=f"{RES}/stats/all.csv",
        table=f"{RES}/tables/exp01_stats.tex",
        figures=[f"{RES}/figures/exp01_cosine_hist_{t}.{ext}" for t in P0_TEACHERS for ext in ("pdf", "png")],
    params:
        teachers=P0_TEACHERS,
        layers=P0_LAYERS,
        pools=P0_POOLS,
        main_mask=P0_MAIN_MASK,
    log:
        logfile("phase0_stats_combine"),
    benchmark:
        benchfile("phase0_stats_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_stats_combine.py"


rule phase0_retrieval_combine:
    input:
        cells=[c for t in P0_TEACHERS
               for c in p0_cells(P0_RETRIEVAL_CELL, P0_VPOOLS, teacher=t)],
        lexical=f"{RES}/retrieval/lexical.csv",
    output:
        csv=f"{RES}/retrieval/all.csv",
        table=f"{RES}/tables/exp02_retrieval.tex",
        figure=multiext(f"{RES}/figures/exp02_recall_by_layer", ".pdf", ".png"),
    params:
        teachers=P0_TEACHERS,
        layers=P0_LAYERS,
        pools=P0_VPOOLS,
        ks=config["retrieval"]["ks"],
    log:
        logfile("phase0_retrieval_combine"),
    benchmark:
        benchfile("phase0_retrieval_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_retrieval_combine.py"


rule phase0_retrieval_report:
    input:
        latents=p0_latents,
        bench_items=f"{RES}/bench/retrieval_items.jsonl",
        cells=lambda wc: p0_cells(P0_RETRIEVAL_CELL, P0_VPOOLS, teacher=wc.teacher),
    output:
        report=f"{RES}/reports/retrieval_{{teacher}}.md",
    params:
        n_queries=config["retrieval"]["report_queries"],
        seed=config["seed"],
    wildcard_constraints:
        teacher="[^/]+",
    log:
        logfile("phase0_retrieval_report", "{teacher}"),
    benchmark:
        benchfile("phase0_retrieval_report", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_retrieval_report.py"


rule phase0_probes_combine:
    input:
        cells=[c for t in P0_TEACHERS for m in MASKS
               for c in p0_cells(P0_PROBES_CELL, P0_VPOOLS, teacher=t, mask=m)],
        surface=[f"{RES}/probes/{t}/{m}/surface.csv" for t in P0_TEACHERS for m in MASKS],
    output:
        csv=f"{RES}/probes/all.csv",
        table=f"{RES}/tables/exp03_probes.tex",
        figure=multiext(f"{RES}/figures/exp03_probe_heatmap", ".pdf", ".png"),
    params:
        teachers=P0_TEACHERS,
        layers=P0_LAYERS,
        main_mask=P0_MAIN_MASK,
        main_pool="mean" if "mean" in P0_VPOOLS else (P0_VPOOLS or ["mean"])[0],
    log:
        logfile("phase0_probes_combine"),
    benchmark:
        benchfile("phase0_probes_combine")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase0_probes_combine.py"


rule phase0_macros:
    input:
        stats=f"{RES}/stats/all.csv",
        retrieval=f"{RES}/retrieval/all.csv",
        probes=f"{RES}/probes/all.csv",
        bench=f"{RES}/bench/retrieval_items_report.json",
    output:
        macros=f"{RES}/macros/phase0.tex",
    params:
        main_mask=P0_MAIN_MASK,
    log:
        logfile("phase0_macros"),
    benchmark:
        benchfile("phase0_macros")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/phase0_macros.py"


if P0_TEACHERS:
    _p0_tables = [f"{RES}/tables/exp01_stats.tex", f"{RES}/tables/exp03_probes.tex"]
    _p0_figures = [f"{RES}/figures/exp01_cosine_hist_{t}.pdf" for t in P0_TEACHERS] + \
        [f"{RES}/figures/exp03_probe_heatmap.pdf"]
    if P0_VPOOLS:
        _p0_tables.insert(1, f"{RES}/tables/exp02_retrieval.tex")
        _p0_figures.insert(len(P0_TEACHERS), f"{RES}/figures/exp02_recall_by_layer.pdf")
    for _t in P0_TEACHERS:
        PAPER_CAPTIONS[f"{RES}/figures/exp01_cosine_hist_{_t}.pdf"] = (
            f"Experiment 0.1, teacher {_t}: distribution of pairwise cosine similarities between regions "
            "(per-token vectors for pool none), layers as rows, pools as columns, one line per mask.")
    PAPER_CAPTIONS[f"{RES}/figures/exp02_recall_by_layer.pdf"] = (
        "Experiment 0.2: recall at k of functionally equivalent code by layer, one panel per teacher; "
        "solid: refactoring invariance, dashed: spec to implementation; grey: lexical baseline at the largest k.")
    PAPER_CAPTIONS[f"{RES}/figures/exp03_probe_heatmap.pdf"] = (
        "Experiment 0.3: linear probe scores (R2 for counts, macro-F1 for categories) by property and layer, "
        "one panel per teacher, mean-pooled representations.")
    PAPER_TABLES += _p0_tables
    PAPER_FIGURES += _p0_figures
    PAPER_MACROS += [f"{RES}/macros/phase0.tex"]
    ALL_TARGETS += _p0_tables + _p0_figures + [f"{RES}/macros/phase0.tex", f"{RES}/stats/all.csv",
                                               f"{RES}/retrieval/all.csv", f"{RES}/probes/all.csv"]
    ALL_TARGETS += [f"{RES}/reports/retrieval_{t}.md" for t in P0_TEACHERS] if P0_VPOOLS else []
ALL_TARGETS += [f"{RES}/bench/retrieval_items.jsonl"]
