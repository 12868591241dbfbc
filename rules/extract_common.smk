# Latent extraction: settings and helper functions of rules/extract.smk (kept apart from
# the rules: `snakemake --lint`). Needs rules/teacher.smk before it.

EXTRACT_SHARDS = int(EXTRACT_CFG.get("n_shards", 1))
BENCH_ITEMS = f"{RES}/bench/retrieval_items.jsonl"


def latent_files(teacher):
    return [f"{RES}/latents/{teacher}/shard{i}of{EXTRACT_SHARDS}.h5" for i in range(EXTRACT_SHARDS)]


def extract_inputs(wc):
    entry = teacher_entry(wc.teacher)
    inp = {
        "files": f"{RES}/corpus/{CORPUS}/files.jsonl",
        "manifest": f"{RES}/corpus/{CORPUS}/manifest.json",
        "masks": expand(f"{RES}/masks/{CORPUS}/{{mask}}.csv", mask=MASKS),
    }
    if entry["source"] in ("train", "random"):
        inp["model"] = f"{RES}/teachers/{wc.teacher}/model/config.json"
    # Retrieval benchmark items (Phase 0 rule `retrieval_items`), embedded in the same job.
    if hasattr(rules, "retrieval_items"):
        inp["bench"] = BENCH_ITEMS
    return inp
