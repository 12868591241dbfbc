"""Rule teacher_loss_figure: Stage-1 loss curve of a trained teacher."""
import pandas as pd

from swejepa.runtime import setup_logging
from swejepa.teachers.plot import plot_loss

log = setup_logging(snakemake.log[0])
df = pd.read_csv(snakemake.input.metrics)
plot_loss(df, snakemake.output.pdf.rsplit(".", 1)[0], title=snakemake.wildcards.teacher)
log.info("plotted %d points", len(df))
