"""Rule mask_agreement: do the regex and ast strategies find the same function bodies?"""
import pandas as pd

from swejepa.masks import agreement
from swejepa.runtime import atomic_path, setup_logging

log = setup_logging(snakemake.log[0])
rx = pd.read_csv(snakemake.input.regex, keep_default_na=False).to_dict("records")
at = pd.read_csv(snakemake.input.ast, keep_default_na=False).to_dict("records")
rows = pd.DataFrame(agreement(rx, at))
summary = rows["status"].value_counts().reindex(["agree", "span_differs", "ast_only", "regex_only"], fill_value=0)
summary = summary.rename_axis("status").reset_index(name="n_functions")
summary["fraction"] = summary["n_functions"] / max(len(rows), 1)
with atomic_path(snakemake.output.agreement) as tmp:
    summary.to_csv(tmp, index=False)
with atomic_path(snakemake.output.disagreements) as tmp:
    rows[rows["status"] != "agree"].to_csv(tmp, index=False)
log.info("agreement:\n%s", summary.to_string(index=False))
