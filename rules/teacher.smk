# Stage 1: teachers. `train` teachers: byte-level BPE tokenizer + tiny Qwen2 trained with
# fill-in-the-middle; `random` teachers: the same architecture/tokenizer, initial weights.
# `package`/`hf` teachers need no rule (extraction loads them; hf ones must be cached).
#   LAYOUT.teacher_tokenizer   results/teachers/{t}/tokenizer/  (train) tokenizer only
#   LAYOUT.teacher_model       results/teachers/{t}/model/      save_pretrained model + tokenizer
#                              (rules declare model/config.json; the directory is renamed in whole)
#   LAYOUT.teacher_metrics     results/teachers/{t}/train_metrics.csv
#   LAYOUT.teacher_resume      results/teachers/{t}/_resume/    resume state; declared by no rule
#   teacher_loss_{t}           results/figures/teacher_loss_{t}.pdf/.png (no plotting in training)


rule teacher_tokenizer:
    input:
        files=LAYOUT.corpus_files(),
    output:
        tokenizer=directory(LAYOUT.teacher_tokenizer()),
    params:
        tokenizer=lambda wc: SETTINGS.teacher(wc.teacher).tokenizer.to_dict(),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers_by_source("train")),
    log:
        LAYOUT.log("teacher_tokenizer", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("teacher_tokenizer", "{teacher}")
    conda:
        "../envs/torch.yaml"
    priority: 20  # heads the longest chain (teacher -> extract -> students -> decoder, Phase 2): start it first
    threads: 2
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/teacher_tokenizer.py"


rule teacher_train:
    input:
        files=LAYOUT.corpus_files(),
        regions=lambda wc: LAYOUT.mask_csv(SETTINGS.teacher(wc.teacher).training.mask),
        tokenizer=LAYOUT.teacher_tokenizer(),
    output:
        model=LAYOUT.teacher_model_config(),
        metrics=LAYOUT.teacher_metrics(),
        info=LAYOUT.teacher_train_info(),
    params:
        teacher=lambda wc: SETTINGS.teacher(wc.teacher).to_dict(),
        seed=SETTINGS.seed,
        resume_dir=lambda wc: LAYOUT.teacher_resume(wc.teacher),
        # minutes of the job minus a margin: checkpoint and exit before SLURM kills it
        time_budget_s=SETTINGS.extract.time_budget_s,
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers_by_source("train")),
    log:
        LAYOUT.log("teacher_train", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("teacher_train", "{teacher}")
    conda:
        "../envs/torch.yaml"
    priority: 20  # heads the longest chain: start it first
    threads: 2
    resources:
        mem_mb=4000,
        runtime=SETTINGS.extract.runtime,
        gpu=SETTINGS.extract.gpu,
    script:
        "../scripts/teacher_train.py"


rule teacher_random:
    input:
        tokenizer=lambda wc: LAYOUT.teacher_tokenizer(SETTINGS.teacher(wc.teacher).like),
    output:
        model=LAYOUT.teacher_model_config(),
        info=LAYOUT.teacher_init_info(),
    params:
        like=lambda wc: SETTINGS.teacher(SETTINGS.teacher(wc.teacher).like).to_dict(),
        seed=SETTINGS.seed,
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers_by_source("random")),
    log:
        LAYOUT.log("teacher_random", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("teacher_random", "{teacher}")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/teacher_random.py"


rule teacher_loss_figure:
    input:
        metrics=LAYOUT.teacher_metrics(),
    output:
        pdf=LAYOUT.figure("teacher_loss_{teacher}"),
        png=LAYOUT.figure("teacher_loss_{teacher}", "png"),
    wildcard_constraints:
        teacher=alternatives(PLAN.teachers_by_source("train")),
    log:
        LAYOUT.log("teacher_loss_figure", "{teacher}"),
    benchmark:
        LAYOUT.benchmark("teacher_loss_figure", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/teacher_loss_figure.py"
