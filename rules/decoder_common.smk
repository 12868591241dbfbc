# Phase 3: settings and helper functions of rules/decoder.smk (kept apart from the rules:
# `snakemake --lint`).

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
