# Stage: Phase 2 (Experiments 2.1 and 2.2). Needs rules/teacher.smk, extract.smk and
# student.smk included before it (TEACHERS, latent_files, student_cfg, ST_TEACHERS).
#
# 2.1 teacher ablation — identical students (student.* config, `main` design) per teacher
#     of phase2.teachers and seed of phase2.seeds, plus the untrained student (the floor).
#     The student of (teacher, seed == config seed) IS the student stage's
#     results/students/{teacher}/main/final.pt (reused, never trained twice); other seeds:
#       phase2_train_student  results/phase2/teachers/{teacher}/seed{seed}/final.pt   [GPU]
# 2.2 compute allocation (phase2.compute), per compute teacher {teacher} of
#     phase2.compute.teachers: a `train` teacher is trained from its initial weights
#     (Stage 1); an `hf`/`package` causal LM is FIM-fine-tuned from its pretrained weights
#     (the cluster sweep of fine-tuning steps), with its `training` block as the recipe:
#       phase2_alloc          results/phase2/alloc/{teacher}/seed{seed}/p{pct}/final.pt, run.json [GPU]
#                             one job per sweep point: teacher trained/fine-tuned with pct% of
#                             the FLOPs budget, one forward pass over the student's regions
#                             (windows of results/latents/{teacher}), student with the rest
#       phase2_curve_teachers results/phase2/curve/{teacher}/teachers/ (step{N}/ + curve.csv) [GPU]
#                             the teacher's run replayed to its snapshot steps (and, when
#                             fine-tuned, to its last step)
#       phase2_curve_student  results/phase2/curve/{teacher}/seed{seed}/step{N}/final.pt  [GPU]
#                             (step 0 = the random twin's 2.1 student for `train` teachers,
#                             the pretrained teacher's own 2.1 student when fine-tuned;
#                             the last Stage-1 step = the `train` teacher's own 2.1 student)
# Evaluation (every student, the same Phase-0 tasks on the student's representations):
#       phase2_eval           results/phase2/eval/{kind}/seed{seed}/{point}.json
#                             (point: {teacher}, {teacher}/p{pct} or {teacher}/step{N})
# Report:
#       phase2_report         results/phase2/exp21_teachers.csv, exp22_compute.csv,
#                             criterion.json, results/tables/exp21_teachers.tex,
#                             exp22_compute.tex, results/figures/exp21_teachers.{pdf,png},
#                             exp22_allocation.{pdf,png}, exp22_undertrained.{pdf,png},
#                             results/macros/phase2.tex

include: "phase2_common.smk"

if P2_ON:

    rule phase2_train_student:
        input:
            latents=lambda wc: latent_files(wc.teacher),
        output:
            final=f"{RES}/phase2/teachers/{{teacher}}/seed{{seed}}/final.pt",
            metrics=f"{RES}/phase2/teachers/{{teacher}}/seed{{seed}}/metrics.csv",
            summary=f"{RES}/phase2/teachers/{{teacher}}/seed{{seed}}/summary.json",
            run=f"{RES}/phase2/teachers/{{teacher}}/seed{{seed}}/run.json",
        params:
            cfg=P2_CFG,
            seed=lambda wc: int(wc.seed),
        wildcard_constraints:
            teacher=_alt(TEACHER_NAMES),
            seed=r"\d+",
        threads: 2
        log:
            logfile("phase2_train_student", "{teacher}/seed{seed}"),
        benchmark:
            benchfile("phase2_train_student", "{teacher}/seed{seed}")
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=4000,
            runtime=P2_RUNTIME,
            gpu=P2_GPU,
        script:
            "../scripts/phase2_train_student.py"

    rule phase2_alloc:
        input:
            unpack(p2_alloc_inputs),
        output:
            final=f"{RES}/phase2/alloc/{{teacher}}/seed{{seed}}/p{{pct}}/final.pt",
            metrics=f"{RES}/phase2/alloc/{{teacher}}/seed{{seed}}/p{{pct}}/metrics.csv",
            summary=f"{RES}/phase2/alloc/{{teacher}}/seed{{seed}}/p{{pct}}/summary.json",
            run=f"{RES}/phase2/alloc/{{teacher}}/seed{{seed}}/p{{pct}}/run.json",
        params:
            entry=lambda wc: P2_CT_ENTRY[wc.teacher],
            index=lambda wc: teacher_index(wc.teacher),
            cfg=P2_CFG,
            total_flops=float(P2_COMP.get("total_flops", 3.0e12)),
            pct=lambda wc: int(wc.pct),
            seed=lambda wc: int(wc.seed),
            max_regions=P2_COMP.get("max_regions"),
            results_dir=lambda wc, input: os.path.dirname(os.path.dirname(os.path.dirname(input.files))),
        wildcard_constraints:
            teacher=_alt(P2_CTS),
            seed=r"\d+",
            pct=r"\d+",
        threads: 2
        log:
            logfile("phase2_alloc", "{teacher}/seed{seed}/p{pct}"),
        benchmark:
            benchfile("phase2_alloc", "{teacher}/seed{seed}/p{pct}")
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=6000,
            runtime=P2_RUNTIME,
            gpu=P2_GPU,
        script:
            "../scripts/phase2_alloc.py"

    rule phase2_curve_teachers:
        input:
            unpack(p2_curve_teacher_inputs),
        output:
            # step{N}/ (a saved model per snapshot) + curve.csv; the run restarts from
            # step 0 after a failure (Snakemake removes a failed directory output).
            curve=directory(f"{RES}/phase2/curve/{{teacher}}/teachers"),
        params:
            entry=lambda wc: P2_CT_ENTRY[wc.teacher],
            index=lambda wc: teacher_index(wc.teacher),
            steps=lambda wc: P2_SNAPS[wc.teacher],
            seed=config["seed"],
            results_dir=lambda wc, input: os.path.dirname(os.path.dirname(os.path.dirname(input.files))),
        wildcard_constraints:
            teacher=_alt(P2_CTS),
        threads: 2
        log:
            logfile("phase2_curve_teachers", "{teacher}"),
        benchmark:
            benchfile("phase2_curve_teachers", "{teacher}")
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=6000,
            runtime=P2_RUNTIME,
            gpu=P2_GPU,
        script:
            "../scripts/phase2_curve_teachers.py"

    rule phase2_curve_student:
        input:
            teachers=f"{RES}/phase2/curve/{{teacher}}/teachers",
            latents=lambda wc: latent_files(wc.teacher),
        output:
            final=f"{RES}/phase2/curve/{{teacher}}/seed{{seed}}/step{{step}}/final.pt",
            metrics=f"{RES}/phase2/curve/{{teacher}}/seed{{seed}}/step{{step}}/metrics.csv",
            summary=f"{RES}/phase2/curve/{{teacher}}/seed{{seed}}/step{{step}}/summary.json",
            run=f"{RES}/phase2/curve/{{teacher}}/seed{{seed}}/step{{step}}/run.json",
        params:
            cfg=P2_CFG,
            seed=lambda wc: int(wc.seed),
            max_regions=P2_COMP.get("max_regions"),
            device=lambda wc: (P2_CT_ENTRY[wc.teacher].get("training") or {}).get("device", "auto"),
        wildcard_constraints:
            teacher=_alt(P2_CTS),
            seed=r"\d+",
            step=r"\d+",
        threads: 2
        log:
            logfile("phase2_curve_student", "{teacher}/seed{seed}/step{step}"),
        benchmark:
            benchfile("phase2_curve_student", "{teacher}/seed{seed}/step{step}")
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=4000,
            runtime=P2_RUNTIME,
            gpu=P2_GPU,
        script:
            "../scripts/phase2_curve_student.py"

    rule phase2_eval:
        input:
            unpack(p2_eval_inputs),
        output:
            json=f"{RES}/phase2/eval/{{kind}}/seed{{seed}}/{{point}}.json",
        params:
            entry=lambda wc: teacher_entry(p2_eval_teacher(wc)),
            index=lambda wc: teacher_index(p2_eval_teacher(wc)),
            ident=p2_eval_ident,
            cfg=P2_CFG,
            eval=P2_EVAL,
            probes=P2_PROBES,
            seed=lambda wc: int(wc.seed),
            results_dir=lambda wc, input: os.path.dirname(os.path.dirname(input.bench_items)),
        wildcard_constraints:
            kind="teachers|alloc|curve",
            seed=r"\d+",
            point=r"[^/]+(/[^/]+)?",   # teachers: {teacher}; alloc: {teacher}/p{pct}; curve: {teacher}/step{N}
        threads: 2
        log:
            logfile("phase2_eval", "{kind}/seed{seed}/{point}"),
        benchmark:
            benchfile("phase2_eval", "{kind}/seed{seed}/{point}")
        conda:
            "../envs/torch.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../scripts/phase2_eval.py"

    P2_TABLES = [f"{RES}/tables/exp21_teachers.tex", f"{RES}/tables/exp22_compute.tex"]
    P2_FIGURES = [f"{RES}/figures/exp21_teachers.pdf", f"{RES}/figures/exp22_allocation.pdf",
                  f"{RES}/figures/exp22_undertrained.pdf"]
    P2_MACROS = [f"{RES}/macros/phase2.tex"]

    rule phase2_report:
        input:
            teachers=[p2_eval21(t, s) for s in P2_SEEDS for t in P2_TEACHERS + ["untrained"]],
            alloc=[f"{RES}/phase2/eval/alloc/seed{s}/{ct}/p{p}.json" for ct in P2_CTS for s in P2_CSEEDS
                   for p in P2_PCTS],
            curve=[pt["json"] for pt in P2_CURVE_POINTS],
            curve_dirs=[p2_curve_dir(ct) for ct in P2_CTS],
            teacher_info=[f"{RES}/teachers/{ct}/train_info.json" for ct in P2_CTS if not P2_FT[ct]],
        output:
            csv21=f"{RES}/phase2/exp21_teachers.csv",
            csv22=f"{RES}/phase2/exp22_compute.csv",
            criterion=f"{RES}/phase2/criterion.json",
            table21=P2_TABLES[0],
            table22=P2_TABLES[1],
            fig21=P2_FIGURES[0],
            fig21_png=P2_FIGURES[0].replace(".pdf", ".png"),
            fig22_alloc=P2_FIGURES[1],
            fig22_alloc_png=P2_FIGURES[1].replace(".pdf", ".png"),
            fig22_curve=P2_FIGURES[2],
            fig22_curve_png=P2_FIGURES[2].replace(".pdf", ".png"),
            macros=P2_MACROS[0],
        params:
            metric=P2.get("metric", "refactor_mrr"),
            table_metrics=P2.get("table_metrics", ["refactor_mrr", "spec_mrr", "probe_score"]),
            small=P2.get("small_teacher"),
            large=P2.get("large_teacher"),
            curve_points=P2_CURVE_POINTS,
            compute_teachers=[{"name": ct, "mode": "finetune" if P2_FT[ct] else "scratch",
                               "curve_csv": f"{p2_curve_dir(ct)}/curve.csv",
                               "train_info": None if P2_FT[ct] else f"{RES}/teachers/{ct}/train_info.json"}
                              for ct in P2_CTS],
        log:
            logfile("phase2_report"),
        benchmark:
            benchfile("phase2_report")
        conda:
            "../envs/workflow.yaml"
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/phase2_report.py"

    ALL_TARGETS += P2_TABLES + P2_FIGURES + [p.replace(".pdf", ".png") for p in P2_FIGURES] + P2_MACROS
    ALL_TARGETS += [f"{RES}/phase2/exp21_teachers.csv", f"{RES}/phase2/exp22_compute.csv"]
    PAPER_TABLES += P2_TABLES
    PAPER_FIGURES += P2_FIGURES
    PAPER_MACROS += P2_MACROS
