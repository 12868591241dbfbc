"""Experiment 3.1 report: table ``exp31_decoder.tex``, figure and LaTeX macros from the
evaluation CSVs (``summary.csv``, ``heldout.csv``). Imports no torch (analysis env)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

def report(summary_csv, heldout_csv, table_path, figure_stem, macros_path, ks) -> None:
    from swejepa.tex import write_macros

    df = pd.read_csv(summary_csv)
    held = pd.read_csv(heldout_csv)
    _table(df, ks, table_path)
    _figure(df, held, ks, figure_stem)
    write_macros(_macros(df, held, ks), macros_path)


def _table(df: pd.DataFrame, ks, table_path) -> None:
    from swejepa.tex import write_table

    cols = {"label": "system", "total_params": "params (total)", "ppl": "body ppl", "token_acc": "token acc",
            "syntax_valid": "syntax valid"}
    for k in ks:
        if f"pass@{k}" in df:
            cols[f"pass@{k}"] = f"pass@{k}"
    cols["humaneval_flops_per_sample"] = "GFLOPs/sample"
    t = df[[c for c in cols if c in df]].copy()
    if "humaneval_flops_per_sample" in t:
        t["humaneval_flops_per_sample"] = t["humaneval_flops_per_sample"] / 1e9
    t = t.rename(columns=cols)
    t["params (total)"] = t["params (total)"].astype(int)
    n = int(df["n_humaneval"].iloc[0])
    src = str(df["heldout_source"].iloc[0]) if "heldout_source" in df else "test"
    src_txt = {"test": "test-split", "val": "validation-split"}.get(src, "held-out training-split")
    cap = (f"Experiment 3.1: latent-conditioned decoder vs.\\ baselines. Body perplexity and next-token "
           f"accuracy are teacher-forced on {int(df['n_heldout'].iloc[0])} {src_txt} bodies; syntax validity "
           f"over {int(df['n_generations'].iloc[0])} sampled bodies (tree-sitter; reference bodies: "
           f"{df['reference_syntax_valid'].iloc[0]:.2f}); pass@k with the unbiased estimator on {n} HumanEval "
           f"problems, {int(df['n_samples'].iloc[0])} samples each at temperature "
           f"{df['temperature'].iloc[0]:g}, executed in the sandbox; GFLOPs per HumanEval sample include the "
           f"student's forward for the latent system. The oracle decoder reads the teacher's own latents "
           f"(held-out only).")
    write_table(t, table_path, caption=cap, label="tab:exp31-decoder")


def _figure(df: pd.DataFrame, held: pd.DataFrame, ks, figure_stem) -> None:
    from matplotlib.ticker import NullFormatter

    from swejepa import plotting

    fig, axes = plotting.figure(width=plotting.FULL_WIDTH, height=2.3, ncols=2)
    ax = axes[0]
    names = held["system"].unique().tolist()
    x = np.arange(len(names))
    for off, kind, color in ((-0.2, "own", "C0"), (0.0, "none", "C1"), (0.2, "shuffled", "C2")):
        vals = [held[(held.system == s) & (held.latent == kind)]["ppl"] for s in names]
        ys = [float(v.iloc[0]) if len(v) else np.nan for v in vals]
        ax.bar(x + off, ys, width=0.2, color=color, label={"own": "own latent", "none": "no latent",
                                                            "shuffled": "another region's latent"}[kind])
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylabel("held-out body perplexity")
    ax.set_yscale("log")
    ax.legend(frameon=False, loc="lower right")
    ax = axes[1]
    key = f"pass@{ks[0]}"
    sub = df[df["humaneval_flops_per_sample"].notna()] if "humaneval_flops_per_sample" in df else df.iloc[:0]
    for _, r in sub.iterrows():
        ax.scatter(r["humaneval_flops_per_sample"], r.get(key, np.nan), label=r["system"])
        ax.annotate(r["system"], (r["humaneval_flops_per_sample"], r.get(key, np.nan)), fontsize=6)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("FLOPs per HumanEval sample")
    ax.set_ylabel(f"HumanEval {key}")
    plotting.savefig(fig, figure_stem)


def _macros(df: pd.DataFrame, held: pd.DataFrame, ks) -> dict:
    vals = {}
    names_tex = {"latent": "Latent", "nolatent": "NoLatent", "oracle": "Oracle", "teacher_fim": "TeacherFim"}
    for _, r in df.iterrows():
        s = names_tex.get(r["system"])
        if not s:
            continue
        vals[f"decoder{s}Ppl"] = float(r["ppl"])
        vals[f"decoder{s}TokenAcc"] = float(r["token_acc"])
        vals[f"decoder{s}SyntaxValid"] = float(r["syntax_valid"])
        vals[f"decoder{s}Params"] = int(r["total_params"])
        for k, word in zip(ks, ("One", "Ten", "Hundred")):
            if f"pass@{k}" in r and not (isinstance(r[f"pass@{k}"], float) and math.isnan(r[f"pass@{k}"])):
                vals[f"decoder{s}PassAt{word if k in (1, 10, 100) else 'K'}"] = float(r[f"pass@{k}"])
        if "humaneval_flops_per_sample" in r and not pd.isna(r["humaneval_flops_per_sample"]):
            vals[f"decoder{s}GflopsPerSample"] = float(r["humaneval_flops_per_sample"]) / 1e9
    lat = df[df.system == "latent"]
    nol = df[df.system == "nolatent"]
    if len(lat) and len(nol):
        vals["decoderPplRatio"] = float(lat["ppl"].iloc[0]) / float(nol["ppl"].iloc[0])
    sh = held[(held.system == "latent") & (held.latent == "shuffled")]
    if len(sh):
        vals["decoderLatentShuffledPpl"] = float(sh["ppl"].iloc[0])
    vals["decoderHumanEvalSamples"] = int(df["n_samples"].iloc[0])
    vals["decoderHumanEvalProblems"] = int(df["n_humaneval"].iloc[0])
    vals["decoderReferenceSyntaxValid"] = float(df["reference_syntax_valid"].iloc[0])
    return vals
