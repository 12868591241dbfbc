"""Rule mask: regions of one strategy over the corpus."""
import json

import pandas as pd

from swejepa.corpus import read_files
from swejepa.masks import FIELDS, mask_corpus
from swejepa.runtime import atomic_path, setup_logging, write_text_atomic

log = setup_logging(snakemake.log[0])
files = read_files(snakemake.input.files)
rows, report = mask_corpus(files, snakemake.wildcards.mask, snakemake.params.min_body_lines)
with atomic_path(snakemake.output.regions) as tmp:
    pd.DataFrame(rows, columns=FIELDS).to_csv(tmp, index=False)
write_text_atomic(snakemake.output.report, json.dumps(report, indent=1) + "\n")
log.info("%s", {k: v for k, v in report.items() if k != "skipped_files"})
for s in report["skipped_files"]:
    log.warning("not masked: %s (%s: %s)", s["path"], s["reason"], s["detail"])
