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

DEC = config.get("decoder", {})
DEC_TEACHER = DEC.get("teacher", "tinyfim")
DEC_VARIANTS = DEC.get("variants", ["latent", "nolatent", "oracle"])
DEC_GPU = int(DEC.get("gpu", 0))
DEC_STUDENT_VARIANT = DEC.get("student_variant", "main")
_dec_he = DEC.get("humaneval", {})
if max(_dec_he.get("ks", [1])) > _dec_he.get("n_samples", 10):
    raise ValueError(f"config key 'decoder.humaneval.ks': every k must be <= decoder.humaneval.n_samples "
                     f"({_dec_he.get('n_samples')}); got {_dec_he.get('ks')}")


def _dec_teacher_entry():
    for t in config.get("teachers", []) or []:
        if t.get("name") == DEC_TEACHER:
            return t
    return None


def dec_teacher_dir():
    """Directory with the teacher's tokenizer (and, for causal LMs, its weights)."""
    entry = _dec_teacher_entry()
    if entry is None or entry.get("source") in ("train", "random", None):
        return f"{RES}/teachers/{DEC_TEACHER}/model"
    from swejepa.teachers.registry import resolve_source

    return str(resolve_source(entry, RES)["path"])


def dec_teacher_inputs(wildcards):
    entry = _dec_teacher_entry()
    if entry is None or entry.get("source") in ("train", "random"):
        return [f"{RES}/teachers/{DEC_TEACHER}/model/config.json"]
    return []


def dec_latents(wildcards):
    if "latent_files" in globals():  # rules/extract.smk
        return latent_files(DEC_TEACHER)
    n = int((config.get("extract", {}) or {}).get("n_shards", 1))
    return [f"{RES}/latents/{DEC_TEACHER}/shard{i}of{n}.h5" for i in range(n)]


def dec_student_cfg():
    s = dict(config.get("student", {}) or {})
    return {k: s[k] for k in ("target_layer", "target_norm", "context", "max_len", "max_targets") if k in s}


def _dec_sub(*keys):
    return {k: DEC[k] for k in keys if k in DEC}


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
