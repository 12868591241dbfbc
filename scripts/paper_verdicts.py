"""Rule paper_verdicts: results/paper/verdicts.csv, one row per success criterion of the seed,
with its detail, the paper's table and the verdict macros."""
from swejepa.runtime import setup_logging
from swejepa.settings import VerdictSettings
from swejepa.verdicts import build, write_outputs

log = setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
vs = VerdictSettings.from_dict(p.verdicts)
df = build(stats_csv=i.stats, probes_csv=i.probes, headline_csv=i.get("headline"), stage_csvs=list(i.stages),
           random_teachers=list(p.random_teachers), trained_teachers=list(p.trained_teachers),
           main_mask=p.main_mask, main_pool=p.main_pool, vs=vs)
write_outputs(df, csv=o.csv, detail=o.detail, macros_path=o.macros, level=vs.level)
for r in df.itertuples():
    log.info("%s %s: %s (%s)", r.experiment, r.verdict, r.metric, r.reason)
