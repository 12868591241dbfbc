# Stage: Phase 2 -- Experiment 2.1 ("teachers": the teacher ablation) and Experiment 2.2
# ("compute": the compute allocation). The plan (PLAN.p2_*, PLAN.compute_*, PLAN.curve_points)
# says which students exist.
#
# 2.1 teachers -- identical students (the student stage's `main` recipe) per teacher of
#     phase2.teachers and seed of phase2.seeds, plus the untrained student (the floor).
#     The student of (teacher, seed == config seed) IS the student stage's (reused, never
#     trained twice); other seeds:
#       phase2_teachers_train     LAYOUT.phase2_teachers_dir: final.pt, metrics.csv, summary.json, run.json [GPU]
# 2.2 compute -- per compute teacher of phase2.compute.teachers: a `train` teacher is trained
#     from its initial weights (Stage 1); an `hf`/`package` causal LM is FIM-fine-tuned from
#     its pretrained weights, its `training` block being the recipe:
#       phase2_compute_point      LAYOUT.phase2_compute_dir (one sweep point): teacher trained or
#                                 fine-tuned with pct% of the FLOPs budget, one forward pass over
#                                 the student's regions, student with the rest          [GPU]
#       phase2_compute_snapshots  LAYOUT.phase2_snapshots: the teacher's run replayed to its
#                                 snapshot steps (step{N}/ + curve.csv)                  [GPU]
#       phase2_compute_curve      LAYOUT.phase2_curve_dir: a student per snapshot         [GPU]
#                                 (step 0 and the last step reuse 2.1 students)
# Evaluation of every student alike (the Phase-0 tasks on the student's representations):
#       phase2_eval               LAYOUT.phase2_eval(kind, seed, point); point: {teacher},
#                                 {teacher}/p{pct} or {teacher}/step{N}
# Report:
#       phase2_report             exp21_teachers.csv, exp22_compute.csv, criterion.json, tables
#                                 exp21_teachers / exp22_compute, figures exp21_teachers,
#                                 exp22_allocation, exp22_undertrained, macros phase2.tex, and
#                                 verdicts.csv (the 2.1/2.2 verdict rows with their paired-bootstrap
#                                 CIs, swejepa/verdicts.py; collected into results/paper/verdicts.csv)


rule phase2_teachers_train:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        model=lambda wc: PLAN.built_model(wc.teacher),  # online targets load the teacher
    output:
        final=f"{LAYOUT.phase2_teachers_dir()}/final.pt",
        metrics=f"{LAYOUT.phase2_teachers_dir()}/metrics.csv",
        summary=f"{LAYOUT.phase2_teachers_dir()}/summary.json",
        run=f"{LAYOUT.phase2_teachers_dir()}/run.json",
    params:
        student=PLAN.student_recipe().to_dict(),
        seed=lambda wc: int(wc.seed),
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers),
        seed=r"\d+",
    threads: 2
    log:
        LAYOUT.log("phase2_teachers_train", "{teacher}/seed{seed}"),
    benchmark:
        LAYOUT.benchmark("phase2_teachers_train", "{teacher}/seed{seed}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=SETTINGS.phase2.runtime,
        gpu=SETTINGS.phase2.gpu,
    script:
        "../scripts/phase2_teachers_train.py"


rule phase2_compute_point:
    input:
        unpack(PLAN.compute_inputs),
    output:
        final=f"{LAYOUT.phase2_compute_dir()}/final.pt",
        metrics=f"{LAYOUT.phase2_compute_dir()}/metrics.csv",
        summary=f"{LAYOUT.phase2_compute_dir()}/summary.json",
        run=f"{LAYOUT.phase2_compute_dir()}/run.json",
    params:
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        student=PLAN.student_recipe().to_dict(),
        compute=SETTINGS.phase2.compute.without("teachers", "teacher_percent", "seeds", "snapshot_steps").to_dict(),
        pct=lambda wc: int(wc.pct),
        seed=lambda wc: int(wc.seed),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.compute_teachers),
        seed=r"\d+",
        pct=r"\d+",
    threads: 1  # measured 1.0-1.4x faster on 2 threads: two 1-thread jobs at once beat one 2-thread job (-c2)
    log:
        LAYOUT.log("phase2_compute_point", "{teacher}/seed{seed}/p{pct}"),
    benchmark:
        LAYOUT.benchmark("phase2_compute_point", "{teacher}/seed{seed}/p{pct}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=SETTINGS.phase2.runtime,
        gpu=SETTINGS.phase2.gpu,
    script:
        "../scripts/phase2_compute_point.py"


rule phase2_compute_snapshots:
    input:
        unpack(PLAN.snapshot_inputs),
    output:
        # step{N}/ (a saved model per snapshot) + curve.csv; the run restarts from step 0
        # after a failure (Snakemake removes a failed directory output).
        curve=directory(LAYOUT.phase2_snapshots()),
    params:
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        steps=lambda wc: PLAN.snapshots(wc.teacher),
        seed=SETTINGS.seed,
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.compute_teachers),
    threads: 2
    log:
        LAYOUT.log("phase2_compute_snapshots", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("phase2_compute_snapshots", "{teacher}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=SETTINGS.phase2.runtime,
        gpu=SETTINGS.phase2.gpu,
    script:
        "../scripts/phase2_compute_snapshots.py"


rule phase2_compute_curve:
    input:
        teachers=LAYOUT.phase2_snapshots(),
        latents=lambda wc: PLAN.latent_files(wc.teacher),
    output:
        final=f"{LAYOUT.phase2_curve_dir()}/final.pt",
        metrics=f"{LAYOUT.phase2_curve_dir()}/metrics.csv",
        summary=f"{LAYOUT.phase2_curve_dir()}/summary.json",
        run=f"{LAYOUT.phase2_curve_dir()}/run.json",
    params:
        student=PLAN.student_recipe().to_dict(),
        seed=lambda wc: int(wc.seed),
        max_regions=SETTINGS.phase2.compute.max_regions,
        device=lambda wc: SETTINGS.teacher(wc.teacher).training.device,
    wildcard_constraints:
        teacher=alternatives(PLAN.compute_teachers),
        seed=r"\d+",
        step=r"\d+",
    priority: 10  # the longest Phase 2 job
    threads: 1  # measured 1.0-1.4x faster on 2 threads: two 1-thread jobs at once beat one 2-thread job (-c2)
    log:
        LAYOUT.log("phase2_compute_curve", "{teacher}/seed{seed}/step{step}"),
    benchmark:
        LAYOUT.benchmark("phase2_compute_curve", "{teacher}/seed{seed}/step{step}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=SETTINGS.phase2.runtime,
        gpu=SETTINGS.phase2.gpu,
    script:
        "../scripts/phase2_compute_curve.py"


rule phase2_eval:
    input:
        unpack(PLAN.eval_inputs),
    output:
        json=LAYOUT.phase2_eval(),
    params:
        teacher=lambda wc: SETTINGS.teacher(PLAN.eval_teacher(wc)).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(PLAN.eval_teacher(wc)),
        ident=PLAN.eval_ident,
        student=PLAN.student_recipe().to_dict(),
        eval=SETTINGS.student.eval.without("n_candidates", "val_regions").to_dict(),
        probes=SETTINGS.probes.without("max_samples").to_dict(),
        retrieval=SETTINGS.retrieval.without("bench", "report_queries").to_dict(),
        seed=lambda wc: int(wc.seed),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        kind="teachers|compute|curve",
        seed=r"\d+",
        point=r"[^/]+(/[^/]+)?",   # teachers: {teacher}; compute: {teacher}/p{pct}; curve: {teacher}/step{N}
    threads: 1  # measured 1.0-1.4x faster on 2 threads: two 1-thread jobs at once beat one 2-thread job (-c2)
    log:
        LAYOUT.log("phase2_eval", "{kind}/seed{seed}/{point}"),
    benchmark:
        LAYOUT.benchmark("phase2_eval", "{kind}/seed{seed}/{point}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/phase2_eval.py"


rule phase2_report:
    input:
        teachers=PLAN.teachers21_jsons(),
        compute=PLAN.compute_eval_jsons(),
        curve=[pt.json for pt in PLAN.curve_points],
        curve_dirs=[LAYOUT.phase2_snapshots(ct) for ct in PLAN.compute_teachers],
        teacher_info=[LAYOUT.teacher_train_info(ct) for ct in PLAN.compute_teachers if not PLAN.finetunes(ct)],
    output:
        csv21=LAYOUT.phase2("exp21_teachers.csv"),
        csv22=LAYOUT.phase2("exp22_compute.csv"),
        criterion=LAYOUT.phase2("criterion.json"),
        table21=LAYOUT.table("exp21_teachers"),
        table22=LAYOUT.table("exp22_compute"),
        fig21=LAYOUT.figure("exp21_teachers"),
        fig21_png=LAYOUT.figure("exp21_teachers", "png"),
        fig22_compute=LAYOUT.figure("exp22_allocation"),
        fig22_compute_png=LAYOUT.figure("exp22_allocation", "png"),
        fig22_curve=LAYOUT.figure("exp22_undertrained"),
        fig22_curve_png=LAYOUT.figure("exp22_undertrained", "png"),
        macros=LAYOUT.macros("phase2"),
        verdicts=LAYOUT.phase2("verdicts.csv"),
    params:
        verdicts=SETTINGS.verdicts.to_dict(),
        seed=SETTINGS.seed,
        metric=SETTINGS.phase2.metric,
        table_metrics=list(SETTINGS.phase2.table_metrics),
        small=SETTINGS.phase2.small_teacher,
        large=SETTINGS.phase2.large_teacher,
        curve_points=[{"teacher": pt.teacher, "step": pt.step, "seed": pt.seed, "json": pt.json}
                      for pt in PLAN.curve_points],
        compute_teachers=PLAN.compute_report_teachers,
    log:
        LAYOUT.log("phase2_report"),
    benchmark:
        LAYOUT.benchmark("phase2_report")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/phase2_report.py"
