# Stage: Phase 1, the SWE-JEPA student (Experiments 1.1 and 1.2).
#   student_train   results/students/{teacher}/{variant}/final.pt, metrics.csv, summary.json,
#                   ckpts/ (every student.train.ckpt_every steps: Experiment 1.2's points)
#                   resume state: results/students/{teacher}/{variant}/_resume/ (declared by NO
#                   rule: Snakemake deletes a failed job's outputs; a retried job resumes)
#   student_eval    results/students/{teacher}/{variant}/success.json (seed's success check),
#                   checkpoints.csv (val loss + Phase 0 retrieval/probes per checkpoint; `main` only)
#   student_report  results/tables/exp11_student.tex, exp12_correlation.tex,
#                   results/figures/exp11_loss.{pdf,png}, exp12_correlation.{pdf,png},
#                   results/macros/student.tex, results/students/{summary,correlation}.csv
# Variants: `main` (the configured design) and, for the ablation teacher, one student per
# flipped design option: positions-{abs|rope} (a), context-{signature|file} (b),
# predictor-{transformer|mlp} (c), contrastive-{off|on} (the anti-collapse InfoNCE term).
# Needs rules/teacher.smk + rules/extract.smk (TEACHERS, latent_files) included before it.

include: "student_common.smk"


rule student_train:
    input:
        latents=student_latents,
    output:
        final=f"{_st_dir()}/final.pt",
        metrics=f"{_st_dir()}/metrics.csv",
        summary=f"{_st_dir()}/summary.json",
        ckpts=directory(f"{_st_dir()}/ckpts"),
    params:
        cfg=lambda wc: student_cfg(wc.variant),
        seed=config["seed"],
        # the rule's runtime minus a margin: checkpoint and exit non-zero before SLURM kills us
        time_budget_s=max(60, 60 * (int(STUDENT.get("runtime", 60)) - int(STUDENT.get("time_margin", 5)))),
        gpus=int(STUDENT.get("gpus", 0)),
    wildcard_constraints:
        teacher=_ST_TEACHER_RE,
        variant=_ST_VARIANT_RE,
    threads: 1  # small CPU models: two 1-thread jobs beat one 2-thread job (-c2)
    log:
        logfile("student_train", "{teacher}/{variant}"),
    benchmark:
        benchfile("student_train", "{teacher}/{variant}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=int(STUDENT.get("runtime", 60)),
        gpu=int(STUDENT.get("gpus", 0)),
    script:
        "../scripts/train_student.py"


rule student_eval:
    input:
        final=f"{_st_dir()}/final.pt",
        ckpts=f"{_st_dir()}/ckpts",
        latents=student_latents,
        bench_items=f"{RES}/bench/retrieval_items.jsonl",
        regions=lambda wc: f"{RES}/masks/{CORPUS}/{STUDENT.get('mask', 'ast')}.csv",
        properties=f"{RES}/properties/{CORPUS}/properties.csv",
    output:
        success=f"{_st_dir()}/success.json",
        checkpoints=f"{_st_dir()}/checkpoints.csv",
    params:
        cfg=lambda wc: student_cfg(wc.variant),
        eval=STUDENT.get("eval", {}),
        probes={k: v for k, v in (config.get("probes", {}) or {}).items() if k != "max_samples"},
        teacher_entry=lambda wc: next(t for t in config["teachers"] if t["name"] == wc.teacher),
        teacher_index=lambda wc: _ST_TEACHERS_ALL.index(wc.teacher),
        all_checkpoints=lambda wc: wc.variant == "main",
        # `results`, the root of this job's inputs (results/bench/retrieval_items.jsonl)
        results_dir=lambda wc, input: os.path.dirname(os.path.dirname(input.bench_items)),
        seed=config["seed"],
    wildcard_constraints:
        teacher=_ST_TEACHER_RE,
        variant=_ST_VARIANT_RE,
    threads: 1
    log:
        logfile("student_eval", "{teacher}/{variant}"),
    benchmark:
        benchfile("student_eval", "{teacher}/{variant}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/student_eval.py"


ST_TABLES = [f"{RES}/tables/exp11_student.tex", f"{RES}/tables/exp12_correlation.tex"]
ST_FIGURES = [f"{RES}/figures/exp11_loss.pdf", f"{RES}/figures/exp12_correlation.pdf"]
ST_MACROS = [f"{RES}/macros/student.tex"]


rule student_report:
    input:
        metrics=[f"{_st_dir(t, v)}/metrics.csv" for t, v in ST_STUDENTS],
        summaries=[f"{_st_dir(t, v)}/summary.json" for t, v in ST_STUDENTS],
        success=[f"{_st_dir(t, v)}/success.json" for t, v in ST_STUDENTS],
        checkpoints=[f"{_st_dir(t, v)}/checkpoints.csv" for t, v in ST_STUDENTS],
    output:
        tables=ST_TABLES,
        figures=ST_FIGURES,
        pngs=[p.replace(".pdf", ".png") for p in ST_FIGURES],
        macros=ST_MACROS,
        summary=f"{RES}/students/summary.csv",
        correlation=f"{RES}/students/correlation.csv",
        points=f"{RES}/students/checkpoints.csv",
    params:
        students=ST_STUDENTS,
        design={"positions": STUDENT.get("model", {}).get("positions"), "context": STUDENT.get("context"),
                "predictor": STUDENT.get("model", {}).get("predictor"),
                "contrastive": (STUDENT.get("train", {}) or {}).get("contrastive_weight", 0.1)},
        ablation_teacher=ST_ABL_TEACHER,
    log:
        logfile("student_report"),
    benchmark:
        benchfile("student_report")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/student_report.py"


if ST_STUDENTS:
    ALL_TARGETS += ST_TABLES + ST_FIGURES + [p.replace(".pdf", ".png") for p in ST_FIGURES] + ST_MACROS
    PAPER_TABLES += ST_TABLES
    PAPER_FIGURES += ST_FIGURES
    PAPER_MACROS += ST_MACROS
