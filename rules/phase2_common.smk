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

    # 2.2 compute teachers: `train` teachers are trained from their initial weights (Stage 1);
    # `hf`/`package` causal LMs are fine-tuned with the same FIM objective from their
    # pretrained weights. Names missing from this config's teacher list are skipped (said
    # loudly): the default names `tinyfim`, which a custom teacher list may not have.
    _p2_cts = list(P2_COMP.get("teachers") or ["tinyfim"])
    P2_CTS = [t for t in _p2_cts if t in TEACHER_NAMES]
    if len(P2_CTS) < len(_p2_cts):
        print(f"phase2: compute.teachers {[t for t in _p2_cts if t not in TEACHER_NAMES]} are not in this "
              f"config's teachers ({TEACHER_NAMES}); Experiment 2.2 runs for {P2_CTS or 'none of them'}",
              file=sys.stderr)
    for _i, _ct in enumerate(P2_CTS):
        _src = teacher_entry(_ct)["source"]
        if _src not in ("train", "hf", "package"):
            raise ValueError(f"config key 'phase2.compute.teachers[{_i}]': teacher {_ct!r} has source {_src!r}; "
                             "a compute teacher is trained (`train`) or fine-tuned (`hf`/`package` causal LM)")
    P2_CT_ENTRY = {ct: teacher_entry(ct) for ct in P2_CTS}
    P2_FT = {ct: P2_CT_ENTRY[ct]["source"] in ("hf", "package") for ct in P2_CTS}
    P2_STAGE1 = {ct: int((P2_CT_ENTRY[ct].get("training") or {}).get("steps") or 0) for ct in P2_CTS}
    for ct in P2_CTS:
        if P2_STAGE1[ct] < 1:
            raise ValueError(f"config key 'teachers[{teacher_index(ct)}].training.steps' ({ct}): must be set for "
                             "a phase2.compute teacher (the run whose snapshots the undertrained-teacher curve "
                             "replays: Stage-1 steps, or fine-tuning steps of a pretrained teacher)")
    P2_SNAPS = {ct: sorted({int(s) for s in P2_COMP.get("snapshot_steps", []) if 0 < int(s) < P2_STAGE1[ct]})
                for ct in P2_CTS}
    # Random-init twin of a `train` teacher: its 2.1 student is the curve's step 0.
    P2_TWIN = {ct: None if P2_FT[ct] else next((t["name"] for t in TEACHERS if t["source"] == "random"
                                                and t.get("like") == ct), None) for ct in P2_CTS}
    P2_PCTS = sorted(int(p) for p in P2_COMP.get("teacher_percent", [0, 25, 50, 75]))
    P2_CSEEDS = [int(s) for s in P2_COMP.get("seeds", [0])]
    _p2_train_cts = [ct for ct in P2_CTS if not P2_FT[ct]]
    P2_FLOOR = P2.get("floor_teacher") or (_p2_train_cts[0] if _p2_train_cts else P2_TEACHERS[0])
    if P2_FLOOR not in TEACHER_NAMES:
        raise ValueError(f"config key 'phase2.floor_teacher': no teacher named {P2_FLOOR!r}")
    for _k in ("small_teacher", "large_teacher"):
        if P2.get(_k) and P2[_k] not in P2_TEACHERS:
            raise ValueError(f"config key 'phase2.{_k}': {P2[_k]!r} is not in the 2.1 grid {P2_TEACHERS}")
    P2_CFG = student_cfg("main")
    P2_EVAL = {k: v for k, v in (STUDENT.get("eval", {}) or {}).items() if k in ("representation", "probe_max_samples")}
    P2_PROBES = {k: v for k, v in (config.get("probes", {}) or {}).items() if k != "max_samples"}
    P2_GPU = int(P2.get("gpu", 0))
    P2_RUNTIME = int(P2.get("runtime", 60))
    P2_MASK_CSV = f"{RES}/masks/{CORPUS}/{P2_CFG.get('mask', 'ast')}.csv"

    def p2_fim_mask_csv(ct):
        return f"{RES}/masks/{CORPUS}/{(P2_CT_ENTRY[ct].get('training') or {}).get('mask', 'ast')}.csv"

    def p2_curve_dir(ct):
        """Snapshots (step{N}/) and curve.csv of compute teacher ``ct``'s replayed run."""
        return f"{RES}/phase2/curve/{ct}/teachers"

    def p2_student_final(teacher, seed):
        """The 2.1 student of (teacher, seed): the student stage's when identical."""
        if int(seed) == int(config["seed"]) and teacher in ST_TEACHERS:
            return f"{RES}/students/{teacher}/main/final.pt"
        return f"{RES}/phase2/teachers/{teacher}/seed{seed}/final.pt"

    def p2_eval21(teacher, seed):
        return f"{RES}/phase2/eval/teachers/seed{seed}/{teacher}.json"

    def p2_curve_point(ct, step, seed):
        """(final.pt, eval JSON) of the curve student of ``ct`` at run step ``step``.
        Ends that are Experiment-2.1 students are reused: step 0 of a `train` teacher is
        its random twin's student, step 0 of a fine-tuned teacher the pretrained teacher's
        own, and the last Stage-1 step the `train` teacher's own student."""
        step, seed = int(step), int(seed)
        ends = {0: ct} if P2_FT[ct] else {0: P2_TWIN[ct], P2_STAGE1[ct]: ct}
        ev = f"{RES}/phase2/eval/curve/seed{seed}/{ct}/step{step}.json"
        if step in ends and ends[step] is not None:
            t = ends[step]
            if t in P2_TEACHERS and seed in P2_SEEDS:
                return p2_student_final(t, seed), p2_eval21(t, seed)
            return p2_student_final(t, seed), ev
        return f"{RES}/phase2/curve/{ct}/seed{seed}/step{step}/final.pt", ev

    def p2_curve_steps(ct):
        if P2_FT[ct]:
            return [0] + P2_SNAPS[ct] + [P2_STAGE1[ct]]
        return ([0] if P2_TWIN[ct] else []) + P2_SNAPS[ct] + [P2_STAGE1[ct]]

    P2_CURVE_POINTS = [{"teacher": ct, "step": s, "seed": sd, "json": p2_curve_point(ct, s, sd)[1]}
                       for ct in P2_CTS for sd in P2_CSEEDS for s in p2_curve_steps(ct)]

    def p2_alloc_inputs(wc):
        ct = wc.teacher
        inp = {"files": f"{RES}/corpus/{CORPUS}/files.jsonl", "regions": p2_fim_mask_csv(ct),
               "latents": latent_files(ct)}
        if not P2_FT[ct]:
            inp["tokenizer"] = f"{RES}/teachers/{ct}/tokenizer"
        return inp

    def p2_curve_teacher_inputs(wc):
        inp = p2_alloc_inputs(wc)
        inp.pop("latents")
        if not P2_FT[wc.teacher]:
            inp["final_model"] = f"{RES}/teachers/{wc.teacher}/model/config.json"
        return inp

    def _p2_split(point):
        ct, _, rest = point.partition("/")
        return ct, rest

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
            teacher, pct = _p2_split(point)
            inp["final"] = f"{RES}/phase2/alloc/{teacher}/seed{seed}/{pct}/final.pt"
        else:  # curve
            teacher, step = _p2_split(point)
            inp["final"] = p2_curve_point(teacher, int(step[len("step"):]), seed)[0]
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
        ct, _ = _p2_split(point)
        return {"experiment": wc.kind, "student": f"{wc.kind}/{point}/seed{seed}", "teacher": ct,
                "teacher_source": teacher_entry(ct)["source"], "seed": seed}

    def p2_eval_teacher(wc):
        if wc.kind == "teachers":
            return P2_FLOOR if wc.point == "untrained" else wc.point
        return _p2_split(wc.point)[0]
