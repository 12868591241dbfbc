# Phase 1: settings and helper functions of rules/student.smk (kept apart from the rules:
# `snakemake --lint`). Needs rules/teacher.smk + rules/extract.smk before it.

import re as _st_re

STUDENT = config.get("student", {}) or {}
_ST_TEACHERS_ALL = [t["name"] for t in (config.get("teachers", []) or [])]
ST_TEACHERS = [t for t in (STUDENT.get("teachers") or _ST_TEACHERS_ALL) if t in _ST_TEACHERS_ALL]
_ST_FLIP = {"positions": ("model", {"abs": "rope", "rope": "abs"}),
            "context": (None, {"signature": "file", "file": "signature"}),
            "predictor": ("model", {"transformer": "mlp", "mlp": "transformer"})}


def _st_get(cfg, section, key):
    return (cfg.get(section, {}) if section else cfg).get(key)


def student_variants():
    out = {}
    for opt, (section, flip) in _ST_FLIP.items():
        cur = _st_get(STUDENT, section, opt)
        out[f"{opt}-{flip[cur]}"] = (section, opt, flip[cur])
    # the anti-collapse term: off when the design has it on, on (0.1) when off
    cw = float((STUDENT.get("train", {}) or {}).get("contrastive_weight", 0.1))
    out["contrastive-off" if cw > 0 else "contrastive-on"] = ("train", "contrastive_weight", 0.0 if cw > 0 else 0.1)
    return out


ST_VARIANTS = student_variants() if STUDENT else {}
_abl = STUDENT.get("ablation", {}) or {}
ST_ABL_TEACHER = (_abl.get("teacher") or (ST_TEACHERS[0] if ST_TEACHERS else None)) if _abl.get("enabled", True) else None
ST_STUDENTS = [(t, "main") for t in ST_TEACHERS] + (
    [(ST_ABL_TEACHER, v) for v in ST_VARIANTS] if ST_ABL_TEACHER in ST_TEACHERS else [])


def student_cfg(variant):
    """The student config of one variant (plotting/eval-only keys dropped: no spurious reruns)."""
    import copy

    c = copy.deepcopy({k: v for k, v in STUDENT.items() if k not in ("teachers", "eval", "ablation", "runtime",
                                                                       "time_margin", "gpus")})
    if variant != "main":
        section, opt, val = ST_VARIANTS[variant]
        (c.setdefault(section, {}) if section else c)[opt] = val
        if _abl.get("max_steps"):
            c.setdefault("train", {})["max_steps"] = int(_abl["max_steps"])
    return c


def student_latents(wc):
    if "latent_files" in globals():
        return latent_files(wc.teacher)
    n = int((config.get("extract", {}) or {}).get("n_shards", 1))
    return [f"{RES}/latents/{wc.teacher}/shard{i}of{n}.h5" for i in range(n)]


def _st_dir(t="{teacher}", v="{variant}"):
    return f"{RES}/students/{t}/{v}"


_ST_VARIANT_RE = "main|" + "|".join(ST_VARIANTS) if ST_VARIANTS else "main"
_ST_TEACHER_RE = "|".join(_st_re.escape(t) for t in ST_TEACHERS) if ST_TEACHERS else "(?!x)x"
