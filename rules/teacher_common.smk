# Stage 1: settings and helper functions of rules/teacher.smk (kept apart from the rules:
# `snakemake --lint`).

import re as _re

TEACHERS = config.get("teachers", []) or []
TEACHER_NAMES = [t["name"] for t in TEACHERS]
TRAIN_TEACHERS = [t["name"] for t in TEACHERS if t["source"] == "train"]
RANDOM_TEACHERS = [t["name"] for t in TEACHERS if t["source"] == "random"]
EXTRACT_CFG = config.get("extract", {}) or {}


for _i, _t in enumerate(TEACHERS):
    if _t["source"] == "random" and _t.get("like") not in TRAIN_TEACHERS:
        raise ValueError(f"config key 'teachers[{_i}].like': '{_t.get('like')}' must name a teacher with "
                         f"source 'train' (the random teacher copies its architecture and tokenizer)")


def _alt(names):
    return "|".join(_re.escape(n) for n in names) if names else "(?!x)x"


def teacher_entry(name):
    return next(t for t in TEACHERS if t["name"] == name)


def teacher_index(name):
    return TEACHER_NAMES.index(name)


def teacher_gpus(wildcards=None):
    return int(EXTRACT_CFG.get("gpu", 0))
