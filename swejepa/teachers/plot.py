"""Loss curve of a Stage-1 teacher (train_metrics.csv)."""

from __future__ import annotations


def plot_loss(df, stem, title: str | None = None):
    from ..plotting import figure, savefig

    fig, ax = figure()
    ax.plot(df["step"], df["loss"], color="C0", lw=1.2, label="FIM loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats/token)")
    if "tokens_per_s" in df and len(df):
        tps = df["tokens_per_s"].median()
        ax.text(0.98, 0.95, f"median {tps:,.0f} tokens/s", transform=ax.transAxes, ha="right", va="top",
                fontsize=7)
    if title:
        ax.set_title(f"Stage-1 teacher: {title}")
    return savefig(fig, stem)
