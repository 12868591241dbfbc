# Stage 1: teachers. `train` teachers: byte-level BPE tokenizer + tiny Qwen2 trained with
# fill-in-the-middle; `random` teachers: the same architecture/tokenizer, initial weights.
# `package`/`hf` teachers need no rule (extraction loads them; hf ones must be cached).
#   results/teachers/{t}/tokenizer/            (train) tokenizer only
#   results/teachers/{t}/model/                save_pretrained model + tokenizer (rules declare
#                                              model/config.json; the directory is renamed in whole)
#   results/teachers/{t}/train_metrics.csv     step, loss, tokens_per_s, lr, tokens, flops, elapsed_s
#   results/teachers/{t}/_resume/              periodic checkpoint; declared by no rule
#   results/figures/teacher_loss_{t}.pdf/.png  loss curve (separate rule: no plotting in training)

include: "teacher_common.smk"


rule teacher_tokenizer:
    input:
        files=f"{RES}/corpus/{CORPUS}/files.jsonl",
    output:
        tokenizer=directory(f"{RES}/teachers/{{teacher}}/tokenizer"),
    params:
        tokenizer=lambda wc: teacher_entry(wc.teacher).get("tokenizer", {}),
    wildcard_constraints:
        teacher=_alt(TRAIN_TEACHERS),
    log:
        logfile("teacher_tokenizer", "{teacher}"),
    benchmark:
        benchfile("teacher_tokenizer", "{teacher}")
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/train_teacher.py"


rule train_teacher:
    input:
        files=f"{RES}/corpus/{CORPUS}/files.jsonl",
        regions=lambda wc: f"{RES}/masks/{CORPUS}/{teacher_entry(wc.teacher)['training'].get('mask', 'ast')}.csv",
        tokenizer=f"{RES}/teachers/{{teacher}}/tokenizer",
    output:
        model=f"{RES}/teachers/{{teacher}}/model/config.json",
        metrics=f"{RES}/teachers/{{teacher}}/train_metrics.csv",
        info=f"{RES}/teachers/{{teacher}}/train_info.json",
    params:
        entry=lambda wc: teacher_entry(wc.teacher),
        seed=config["seed"],
        resume_dir=lambda wc: f"{RES}/teachers/{wc.teacher}/_resume",
    wildcard_constraints:
        teacher=_alt(TRAIN_TEACHERS),
    log:
        logfile("train_teacher", "{teacher}"),
    benchmark:
        benchfile("train_teacher", "{teacher}")
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=int(EXTRACT_CFG.get("runtime", 60)),
        gpu=teacher_gpus,
    script:
        "../scripts/train_teacher.py"


rule random_teacher:
    input:
        tokenizer=lambda wc: f"{RES}/teachers/{teacher_entry(wc.teacher)['like']}/tokenizer",
    output:
        model=f"{RES}/teachers/{{teacher}}/model/config.json",
        info=f"{RES}/teachers/{{teacher}}/init_info.json",
    params:
        entry=lambda wc: teacher_entry(wc.teacher),
        like=lambda wc: teacher_entry(teacher_entry(wc.teacher)["like"]),
        seed=config["seed"],
    wildcard_constraints:
        teacher=_alt(RANDOM_TEACHERS),
    log:
        logfile("random_teacher", "{teacher}"),
    benchmark:
        benchfile("random_teacher", "{teacher}")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/train_teacher.py"


rule teacher_loss_figure:
    input:
        metrics=f"{RES}/teachers/{{teacher}}/train_metrics.csv",
    output:
        pdf=f"{RES}/figures/teacher_loss_{{teacher}}.pdf",
        png=f"{RES}/figures/teacher_loss_{{teacher}}.png",
    wildcard_constraints:
        teacher=_alt(TRAIN_TEACHERS),
    log:
        logfile("teacher_loss_figure", "{teacher}"),
    benchmark:
        benchfile("teacher_loss_figure", "{teacher}")
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_teacher_loss.py"


ALL_TARGETS += expand(f"{RES}/teachers/{{t}}/model/config.json", t=TRAIN_TEACHERS + RANDOM_TEACHERS)
ALL_TARGETS += expand(f"{RES}/figures/teacher_loss_{{t}}.pdf", t=TRAIN_TEACHERS)
PAPER_FIGURES += expand(f"{RES}/figures/teacher_loss_{{t}}.pdf", t=TRAIN_TEACHERS)
