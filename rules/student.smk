# Stage: Phase 1, the SWE-JEPA student (Experiments 1.1 and 1.2).
#   student_train   LAYOUT.student_dir = results/students/{teacher}/{variant}/: final.pt,
#                   metrics.csv, summary.json, ckpts/ (every student.train.ckpt_every steps:
#                   Experiment 1.2's points); resume state in LAYOUT.student_resume (declared by
#                   NO rule: Snakemake deletes a failed job's outputs; a retried job resumes)
#   student_eval    success.json (the seed's success check), checkpoints.csv (val loss +
#                   Phase 0 retrieval/probes per checkpoint; `main` only)
#   student_report  exp11_student / exp12_correlation tables, exp11_loss / exp12_correlation
#                   figures, macros student.tex, results/student/{summary,correlation,checkpoints}.csv,
#                   criterion.csv (1.2 per metric and student) and verdicts.csv (the 1.1/1.2 verdict rows,
#                   swejepa/verdicts.py; collected into results/paper/verdicts.csv)
# Students (PLAN.students): `main` (the configured design) per student teacher and, for the
# ablation teacher, one per flipped design option (PLAN.student_variants): positions-{abs|rope}
# (a), context-{signature|file} (b), predictor-{transformer|mlp} (c), contrastive-{off|on}.


rule student_train:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        model=lambda wc: PLAN.built_model(wc.teacher),  # online targets load the teacher
    output:
        final=LAYOUT.student_final(),
        metrics=LAYOUT.student_file("metrics.csv"),
        summary=LAYOUT.student_file("summary.json"),
        ckpts=directory(LAYOUT.student_file("ckpts")),
    params:
        student=lambda wc: PLAN.student_recipe(wc.variant).to_dict(),
        seed=SETTINGS.seed,
        time_budget_s=SETTINGS.student.time_budget_s,
        gpus=SETTINGS.student.gpus,
        resume_dir=lambda wc: LAYOUT.student_resume(wc.teacher, wc.variant),
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.student_teachers),
        variant=alternatives(["main", *PLAN.student_variants]),
    threads: 1  # small CPU models: two 1-thread jobs beat one 2-thread job (-c2)
    log:
        LAYOUT.log("student_train", "{teacher}/{variant}"),
    benchmark:
        LAYOUT.benchmark("student_train", "{teacher}/{variant}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=SETTINGS.student.runtime,
        gpu=SETTINGS.student.gpus,
    script:
        "../scripts/student_train.py"


rule student_eval:
    input:
        final=LAYOUT.student_final(),
        ckpts=LAYOUT.student_file("ckpts"),
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        bench_items=LAYOUT.bench_items(),
        regions=LAYOUT.mask_csv(SETTINGS.student.mask),
        properties=LAYOUT.properties(),
        model=lambda wc: PLAN.built_model(wc.teacher),
    output:
        success=LAYOUT.student_file("success.json"),
        checkpoints=LAYOUT.student_file("checkpoints.csv"),
    params:
        student=lambda wc: PLAN.student_recipe(wc.variant).to_dict(),
        eval=SETTINGS.student.eval.to_dict(),
        probes=SETTINGS.probes.without("max_samples").to_dict(),
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        teacher_index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        all_checkpoints=lambda wc: wc.variant == "main",
        ci=SETTINGS.verdicts.ci().to_dict(),  # success-check CIs over val regions
        layout=LAYOUT.to_dict(),
        seed=SETTINGS.seed,
    wildcard_constraints:
        teacher=alternatives(PLAN.student_teachers),
        variant=alternatives(["main", *PLAN.student_variants]),
    threads: 1
    log:
        LAYOUT.log("student_eval", "{teacher}/{variant}"),
    benchmark:
        LAYOUT.benchmark("student_eval", "{teacher}/{variant}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/student_eval.py"


rule student_report:
    input:
        metrics=[LAYOUT.student_file("metrics.csv", t, v) for t, v in PLAN.students],
        summaries=[LAYOUT.student_file("summary.json", t, v) for t, v in PLAN.students],
        success=[LAYOUT.student_file("success.json", t, v) for t, v in PLAN.students],
        checkpoints=[LAYOUT.student_file("checkpoints.csv", t, v) for t, v in PLAN.students],
    output:
        table11=LAYOUT.table("exp11_student"),
        table11_ablation=LAYOUT.table("exp11_ablation"),
        table11_grid=LAYOUT.table("exp11_student_grid"),
        table12=LAYOUT.table("exp12_correlation"),
        figure11=multiext(LAYOUT.figure_stem("exp11_loss"), ".pdf", ".png"),
        figure12=multiext(LAYOUT.figure_stem("exp12_correlation"), ".pdf", ".png"),
        macros=LAYOUT.macros("student"),
        summary=LAYOUT.students_summary("summary.csv"),
        correlation=LAYOUT.students_summary("correlation.csv"),
        points=LAYOUT.students_summary("checkpoints.csv"),
        criterion=LAYOUT.students_summary("criterion.csv"),
        verdicts=LAYOUT.students_summary("verdicts.csv"),
    params:
        students=PLAN.students,
        design=PLAN.student_design,
        variant_kinds={v: PLAN.variant_kind(v) for v in PLAN.student_variants},
        ablation_teacher=PLAN.ablation_teacher,
        verdicts=SETTINGS.verdicts.to_dict(),
        seed=SETTINGS.seed,
        random_teachers=PLAN.teachers_by_source("random"),
    log:
        LAYOUT.log("student_report"),
    benchmark:
        LAYOUT.benchmark("student_report")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/student_report.py"
