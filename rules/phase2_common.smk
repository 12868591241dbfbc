# Phase 2: settings and helper functions of rules/phase2.smk (kept apart from the rules:
# `snakemake --lint`). Needs rules/teacher.smk, extract.smk and student.smk before it.

P2 = config.get("phase2", {}) or {}
P2_ON = bool(P2) and bool(globals().get("TEACHERS")) and "student_cfg" in globals()
if P2_ON:
    import sys

    P2_COMP = P2.get("compute", {}) or {}
    _p2_unknown = [t for t in (P2.get("teachers") or []) if t not in TEACHER_NAMES]
    if _p2_unknown:
        raise ValueError(f"config key 'phase2.teachers': no teacher named {_p2_unknown} "
                         f"(teachers: {TEACHER_NAMES})")
    P2_TEACHERS = list(P2.get("teachers") or TEACHER_NAMES)
    P2_SEEDS = [int(s) for s in P2.get("seeds", [0])]
    P2_CT = P2_COMP.get("teacher", "tinyfim")
    # 2.2 needs its `train` teacher in the teacher list; without it only 2.1 runs (said loudly).
    P2_COMPUTE_ON = P2_CT in TRAIN_TEACHERS
    if not P2_COMPUTE_ON:
        print(f"phase2: compute.teacher {P2_CT!r} is not a `train` teacher of this config "
              f"(train teachers: {TRAIN_TEACHERS}); Experiment 2.2 is skipped", file=sys.stderr)
    P2_CT_ENTRY = teacher_entry(P2_CT) if P2_COMPUTE_ON else {}
    P2_FLOOR = P2.get("floor_teacher") or (P2_CT if P2_COMPUTE_ON else P2_TEACHERS[0])
    if P2_FLOOR not in TEACHER_NAMES:
        raise ValueError(f"config key 'phase2.floor_teacher': no teacher named {P2_FLOOR!r}")
    for _k in ("small_teacher", "large_teacher"):
        if P2.get(_k) and P2[_k] not in P2_TEACHERS:
            raise ValueError(f"config key 'phase2.{_k}': {P2[_k]!r} is not in the 2.1 grid {P2_TEACHERS}")
    P2_PCTS = sorted(int(p) for p in P2_COMP.get("teacher_percent", [0, 25, 50, 75]))
    P2_CSEEDS = [int(s) for s in P2_COMP.get("seeds", [0])]
    P2_STAGE1 = int((P2_CT_ENTRY.get("training") or {}).get("steps") or 0)
    P2_SNAPS = sorted({int(s) for s in P2_COMP.get("snapshot_steps", []) if 0 < int(s) < P2_STAGE1})
    P2_TWIN = next((t["name"] for t in TEACHERS if t["source"] == "random" and t.get("like") == P2_CT), None)
    P2_CFG = student_cfg("main")
    P2_EVAL = {k: v for k, v in (STUDENT.get("eval", {}) or {}).items() if k in ("representation", "probe_max_samples")}
    P2_PROBES = {k: v for k, v in (config.get("probes", {}) or {}).items() if k != "max_samples"}
    P2_GPU = int(P2.get("gpu", 0))
    P2_RUNTIME = int(P2.get("runtime", 60))
    P2_MASK_CSV = f"{RES}/masks/{CORPUS}/{P2_CFG.get('mask', 'ast')}.csv"
    P2_FIM_MASK_CSV = f"{RES}/masks/{CORPUS}/{(P2_CT_ENTRY.get('training') or {}).get('mask', 'ast')}.csv"

    def p2_student_final(teacher, seed):
        """The 2.1 student of (teacher, seed): the student stage's when identical."""
        if int(seed) == int(config["seed"]) and teacher in ST_TEACHERS:
            return f"{RES}/students/{teacher}/main/final.pt"
        return f"{RES}/phase2/teachers/{teacher}/seed{seed}/final.pt"

    def p2_eval21(teacher, seed):
        return f"{RES}/phase2/eval/teachers/seed{seed}/{teacher}.json"

    def p2_curve_point(step, seed):
        """(final.pt, eval JSON) of the curve student at Stage-1 ``step``."""
        step, seed = int(step), int(seed)
        ends = {0: P2_TWIN, P2_STAGE1: P2_CT}
        if step in ends and ends[step] is not None:
            t = ends[step]
            if t in P2_TEACHERS and seed in P2_SEEDS:
                return p2_student_final(t, seed), p2_eval21(t, seed)
            return p2_student_final(t, seed), f"{RES}/phase2/eval/curve/seed{seed}/step{step}.json"
        d = f"{RES}/phase2/curve/seed{seed}/step{step}"
        return f"{d}/final.pt", f"{RES}/phase2/eval/curve/seed{seed}/step{step}.json"

    if P2_COMPUTE_ON and P2_STAGE1 < 1:
        raise ValueError(f"phase2 curve: teachers[{P2_CT}].training.steps must be set (the Stage-1 run "
                         "whose checkpoints the undertrained-teacher curve replays)")
    P2_CURVE_STEPS = ([0] if P2_TWIN else []) + P2_SNAPS + [P2_STAGE1]
    P2_CURVE_POINTS = [{"step": s, "seed": sd, "json": p2_curve_point(s, sd)[1]}
                       for sd in P2_CSEEDS for s in P2_CURVE_STEPS] if P2_COMPUTE_ON else []

    def p2_eval_inputs(wc):
        """Inputs of one evaluation: the student (none for `untrained`), the latents of its
        teacher (windows + tokenizer), the Phase-0 benchmark and the probe tables."""
        kind, seed, point = wc.kind, int(wc.seed), wc.point
        inp = {"bench_items": f"{RES}/bench/retrieval_items.jsonl", "regions": P2_MASK_CSV,
               "properties": f"{RES}/properties/{CORPUS}/properties.csv"}
        if kind == "teachers":
            teacher = P2_FLOOR if point == "untrained" else point
            if point != "untrained":
                inp["final"] = p2_student_final(point, seed)
        elif kind == "alloc":
            teacher = P2_CT
            inp["final"] = f"{RES}/phase2/alloc/seed{seed}/{point}/final.pt"
        else:  # curve
            teacher = P2_CT
            inp["final"] = p2_curve_point(int(point[len("step"):]), seed)[0]
        inp["latents"] = latent_files(teacher)
        if teacher_entry(teacher)["source"] in ("train", "random"):
            inp["model"] = f"{RES}/teachers/{teacher}/model/config.json"
        return inp

    def p2_eval_ident(wc):
        seed, point = int(wc.seed), wc.point
        if wc.kind == "teachers":
            if point == "untrained":
                return {"experiment": "teachers", "student": f"untrained/seed{seed}", "teacher": "untrained",
                        "teacher_source": "none", "seed": seed, "reused": False}
            final = p2_student_final(point, seed)
            return {"experiment": "teachers", "student": f"{point}/seed{seed}", "teacher": point,
                    "teacher_source": teacher_entry(point)["source"], "seed": seed,
                    "reused": final.startswith(f"{RES}/students/")}
        return {"experiment": wc.kind, "student": f"{wc.kind}/{point}/seed{seed}", "teacher": P2_CT,
                "teacher_source": "train", "seed": seed}

    def p2_eval_teacher(wc):
        if wc.kind == "teachers":
            return P2_FLOOR if wc.point == "untrained" else wc.point
        return P2_CT
