"""Rule decoder_report (Experiment 3.1, step 4): table, figure, LaTeX macros and the 3.1 verdict
row from the evaluation CSVs."""
from swejepa.decoder.report import report
from swejepa.runtime import setup_logging
from swejepa.settings import VerdictSettings

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
report(i.summary, i.heldout, o.table, o.figure[0][: -len(".pdf")], o.macros, ks=tuple(p.ks),
       examples_csv=i.heldout_examples, verdicts_path=o.verdicts, verdicts=VerdictSettings.from_dict(p.verdicts),
       seed=int(p.seed))
