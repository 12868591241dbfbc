# Stage: Phase 3 (Experiment 3.1) -- a decoder conditioned on the student's predicted
# latents, the parameter-matched decoder without latents, the oracle decoder on the
# teacher's own latents, and the teacher's fill-in-the-middle; held-out perplexity /
# token accuracy / syntax validity and HumanEval pass@k executed in swejepa.sandbox.
# Runs when the decoder's teacher (PLAN.decoder_teacher) has a student (PLAN.decoder_on).
#
#   decoder_prepare  LAYOUT.decoder_prepared   results/decoder/{teacher}/prepared.pt
#   decoder_train    LAYOUT.decoder_model      results/decoder/{teacher}/{variant}/model.pt (+ metrics)
#   decoder_eval     LAYOUT.decoder_eval       results/decoder/{teacher}/eval/{summary,heldout,humaneval}.csv
#   decoder_report   exp31_decoder table + figure, macros decoder.tex
# Torch threads come from decoder.threads, read in the scripts (not a param: changing it
# must not rerun a job).


rule decoder_prepare:
    input:
        latents=lambda wc: PLAN.latent_files(wc.teacher),
        student=lambda wc: LAYOUT.student_final(wc.teacher, SETTINGS.decoder.student_variant),
        teacher=lambda wc: PLAN.built_model(wc.teacher),
    output:
        prepared=LAYOUT.decoder_prepared(),
    params:
        decoder=SETTINGS.decoder.without("variants", "teacher_fim", "gpu", "runtime", "threads",
                                         "baseline_match", "heldout_generations", "train", "generation").to_dict(),
        student=PLAN.student_recipe().to_dict(),
        tokenizer_dir=lambda wc: PLAN.teacher_model_dir(wc.teacher),
        seed=SETTINGS.seed,
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        index=lambda wc: SETTINGS.teacher_index(wc.teacher),
        layout=LAYOUT.to_dict(),
    wildcard_constraints:
        teacher=alternatives([PLAN.decoder_teacher] if PLAN.decoder_on else []),
    threads: 1
    log:
        LAYOUT.log("decoder_prepare", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("decoder_prepare", "{teacher}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=30,
    script:
        "../scripts/decoder_prepare.py"


rule decoder_train:
    input:
        prepared=LAYOUT.decoder_prepared(),
    output:
        model=LAYOUT.decoder_model(),
        metrics=LAYOUT.decoder_metrics(),
    wildcard_constraints:
        teacher=alternatives([PLAN.decoder_teacher] if PLAN.decoder_on else []),
        variant=alternatives(SETTINGS.decoder.variants),
    params:
        decoder=SETTINGS.decoder.without("variants", "teacher_fim", "gpu", "runtime", "threads",
                                         "max_train_regions", "max_eval_regions", "heldout_generations",
                                         "generation", "humaneval").to_dict(),
        seed=SETTINGS.seed,
    priority: 10  # the decoder chain ends the run: start it as soon as it can
    threads: 1
    log:
        LAYOUT.log("decoder_train", "{teacher}/{variant}"),
    benchmark:
        LAYOUT.benchmark("decoder_train", "{teacher}/{variant}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=SETTINGS.decoder.runtime,
        gpu=SETTINGS.decoder.gpu,
    script:
        "../scripts/decoder_train.py"


rule decoder_eval:
    input:
        prepared=LAYOUT.decoder_prepared(),
        models=[LAYOUT.decoder_model("{teacher}", v) for v in SETTINGS.decoder.variants],
        teacher=lambda wc: PLAN.built_model(wc.teacher),
    output:
        summary=LAYOUT.decoder_eval("summary.csv"),
        heldout=LAYOUT.decoder_eval("heldout.csv"),
        heldout_examples=LAYOUT.decoder_eval("heldout_examples.csv"),
        humaneval=LAYOUT.decoder_eval("humaneval.csv"),
        samples=LAYOUT.decoder_eval("humaneval_samples.jsonl"),
        generations=LAYOUT.decoder_eval("generations.jsonl"),
    params:
        decoder=SETTINGS.decoder.without("gpu", "runtime", "threads").to_dict(),
        teacher_dir=lambda wc: PLAN.teacher_model_dir(wc.teacher) if SETTINGS.decoder.teacher_fim else None,
        tokenizer_dir=lambda wc: PLAN.teacher_model_dir(wc.teacher),
        seed=SETTINGS.seed,
    wildcard_constraints:
        teacher=alternatives([PLAN.decoder_teacher] if PLAN.decoder_on else []),
    # generation on decoder.threads, then decoder.humaneval.workers sandboxed runs at once
    priority: 10  # the decoder chain ends the run: start it as soon as it can
    threads: max(SETTINGS.decoder.threads or 1, SETTINGS.decoder.humaneval.workers)
    log:
        LAYOUT.log("decoder_eval", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("decoder_eval", "{teacher}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=SETTINGS.decoder.runtime,
        gpu=SETTINGS.decoder.gpu,
    script:
        "../scripts/decoder_eval.py"


rule decoder_report:
    input:
        summary=LAYOUT.decoder_eval("summary.csv", PLAN.decoder_teacher),
        heldout=LAYOUT.decoder_eval("heldout.csv", PLAN.decoder_teacher),
        heldout_examples=LAYOUT.decoder_eval("heldout_examples.csv", PLAN.decoder_teacher),
    output:
        table=LAYOUT.table("exp31_decoder"),
        figure=multiext(LAYOUT.figure_stem("exp31_decoder"), ".pdf", ".png"),
        macros=LAYOUT.macros("decoder"),
        verdicts=LAYOUT.decoder_verdicts(PLAN.decoder_teacher),
    params:
        ks=list(SETTINGS.decoder.humaneval.ks),
        verdicts=SETTINGS.verdicts.to_dict(),
        seed=SETTINGS.seed,
    log:
        LAYOUT.log("decoder_report", f"{PLAN.decoder_teacher}"),
    benchmark:
        LAYOUT.benchmark("decoder_report", f"{PLAN.decoder_teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/decoder_report.py"
