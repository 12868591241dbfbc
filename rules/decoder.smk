# Stage: Phase 3 (Experiment 3.1) -- a decoder conditioned on the student's predicted
# latents, the parameter-matched decoder without latents, the oracle decoder on the
# teacher's own latents, and the teacher's fill-in-the-middle; held-out perplexity /
# token accuracy / syntax validity and HumanEval pass@k executed in swejepa.sandbox.
#
#   decoder_prepare  results/decoder/{teacher}/prepared.pt
#   decoder_train    results/decoder/{teacher}/{variant}/model.pt (+ train_metrics.csv)
#   decoder_eval     results/decoder/{teacher}/eval/{summary,heldout,humaneval}.csv (+ samples)
#   decoder_report   results/tables/exp31_decoder.tex, results/figures/exp31_decoder.{pdf,png},
#                    results/macros/decoder.tex

include: "decoder_common.smk"


rule decoder_prepare:
    input:
        latents=dec_latents,
        student=f"{RES}/students/{DEC_TEACHER}/{DEC_STUDENT_VARIANT}/final.pt",
        teacher=dec_teacher_inputs,
    output:
        prepared=f"{RES}/decoder/{DEC_TEACHER}/prepared.pt",
    params:
        decoder={**_dec_sub("prefix_tokens", "suffix_tokens", "max_body_tokens", "max_train_regions",
                            "max_eval_regions"),
                 "model": {"latent_slots": DEC.get("model", {}).get("latent_slots", 16)},
                 "humaneval": {"problems": _dec_he.get("problems")}},
        student=dec_student_cfg(),
        mask=config.get("student", {}).get("mask", "ast"),
        tokenizer_dir=dec_teacher_dir(),
        seed=config["seed"],
    threads: 1
    log:
        logfile("decoder_prepare", DEC_TEACHER),
    benchmark:
        benchfile("decoder_prepare", DEC_TEACHER)
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=30,
    script:
        "../scripts/decoder_prepare.py"


rule decoder_train:
    input:
        prepared=f"{RES}/decoder/{DEC_TEACHER}/prepared.pt",
    output:
        model=f"{RES}/decoder/{DEC_TEACHER}/{{variant}}/model.pt",
        metrics=f"{RES}/decoder/{DEC_TEACHER}/{{variant}}/train_metrics.csv",
    wildcard_constraints:
        variant="latent|nolatent|oracle",
    params:
        decoder=_dec_sub("prefix_tokens", "suffix_tokens", "max_body_tokens", "baseline_match", "model", "train"),
        seed=config["seed"],
    threads: 1
    log:
        logfile("decoder_train", f"{DEC_TEACHER}/{{variant}}"),
    benchmark:
        benchfile("decoder_train", f"{DEC_TEACHER}/{{variant}}")
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=int(DEC.get("runtime", 60)),
        gpu=DEC_GPU,
    script:
        "../scripts/decoder_train.py"


rule decoder_eval:
    input:
        prepared=f"{RES}/decoder/{DEC_TEACHER}/prepared.pt",
        models=[f"{RES}/decoder/{DEC_TEACHER}/{v}/model.pt" for v in DEC_VARIANTS],
        teacher=dec_teacher_inputs,
    output:
        summary=f"{RES}/decoder/{DEC_TEACHER}/eval/summary.csv",
        heldout=f"{RES}/decoder/{DEC_TEACHER}/eval/heldout.csv",
        humaneval=f"{RES}/decoder/{DEC_TEACHER}/eval/humaneval.csv",
        samples=f"{RES}/decoder/{DEC_TEACHER}/eval/humaneval_samples.jsonl",
        generations=f"{RES}/decoder/{DEC_TEACHER}/eval/generations.jsonl",
    params:
        decoder={k: v for k, v in DEC.items() if k not in ("gpu", "runtime", "threads")},
        variants=DEC_VARIANTS,
        teacher_dir=dec_teacher_dir() if DEC.get("teacher_fim", True) else None,
        tokenizer_dir=dec_teacher_dir(),
        seed=config["seed"],
    threads: 2
    log:
        logfile("decoder_eval", DEC_TEACHER),
    benchmark:
        benchfile("decoder_eval", DEC_TEACHER)
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=6000,
        runtime=int(DEC.get("runtime", 60)),
        gpu=DEC_GPU,
    script:
        "../scripts/decoder_eval.py"


rule decoder_report:
    input:
        summary=f"{RES}/decoder/{DEC_TEACHER}/eval/summary.csv",
        heldout=f"{RES}/decoder/{DEC_TEACHER}/eval/heldout.csv",
    output:
        table=f"{RES}/tables/exp31_decoder.tex",
        figure_pdf=f"{RES}/figures/exp31_decoder.pdf",
        figure_png=f"{RES}/figures/exp31_decoder.png",
        macros=f"{RES}/macros/decoder.tex",
    params:
        ks=_dec_he.get("ks", [1, 10]),
    log:
        logfile("decoder_report", DEC_TEACHER),
    benchmark:
        benchfile("decoder_report", DEC_TEACHER)
    conda:
        "../envs/workflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/decoder_report.py"


# Wired into `all` only when the decoder's teacher is in the grid and has a student: the
# rule student_train must be defined (rules/student.smk included BEFORE this file) for it.
_dec_student_rule = any(r.name == "student_train" for r in workflow.rules)
_dec_has_student = DEC_TEACHER in (globals().get("ST_TEACHERS") or [])
if _dec_teacher_entry() is not None and _dec_student_rule and _dec_has_student:
    _dec_outs = [f"{RES}/tables/exp31_decoder.tex", f"{RES}/figures/exp31_decoder.pdf",
                 f"{RES}/figures/exp31_decoder.png", f"{RES}/macros/decoder.tex"]
    ALL_TARGETS += _dec_outs
    PAPER_TABLES += [f"{RES}/tables/exp31_decoder.tex"]
    PAPER_FIGURES += [f"{RES}/figures/exp31_decoder.pdf"]
    PAPER_MACROS += [f"{RES}/macros/decoder.tex"]
