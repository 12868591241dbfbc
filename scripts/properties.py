"""Rule properties: static properties of every function region (Experiment 0.3)."""
import json

import pandas as pd

from swejepa.corpus import read_files
from swejepa.properties import COLUMNS, corpus_properties
from swejepa.runtime import atomic_path, setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
files = read_files(snakemake.input.files)
regions = pd.read_csv(snakemake.input.regions, keep_default_na=False)
rows, report = corpus_properties(files, regions)
with atomic_path(snakemake.output.properties) as tmp:
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False)
write_text_atomic(snakemake.output.report, json.dumps(report, indent=1, sort_keys=True) + "\n")
log.info("%s", {k: v for k, v in report.items() if k != "skipped_functions"})
for s in report["skipped_functions"][:50]:
    log.warning("no properties: %s %s (%s: %s)", s["path"], s["qualname"], s["reason"], s["detail"])
