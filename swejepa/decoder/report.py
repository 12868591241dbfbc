"""Experiment 3.1 report: table ``exp31_decoder.tex``, figure, LaTeX macros and the 3.1
verdict row (:func:`swejepa.verdicts.exp31`) from the evaluation CSVs (``summary.csv``,
``heldout.csv``, ``heldout_examples.csv``). Imports no torch (analysis env)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

def report(summary_csv, heldout_csv, table_path, figure_stem, macros_path, ks, *, examples_csv=None,
           verdicts_path=None, verdicts=None, seed: int = 0) -> dict:
    """Table, figure and macros; with ``examples_csv`` the CE differences (latent and oracle vs
    the no-latent decoder) get paired-bootstrap CIs over held-out regions and the verdict row
    is written to ``verdicts_path``. Returns the verdict row (or {})."""
    from swejepa import verdicts as V
    from swejepa.settings import VerdictSettings
    from swejepa.tex import write_macros

    df = pd.read_csv(summary_csv)
    held = pd.read_csv(heldout_csv)
    vs = verdicts or VerdictSettings()
    ex = pd.read_csv(examples_csv, dtype={"region": str}) if examples_csv else None
    gains = {}
    if ex is not None:
        for k, name in enumerate(("latent", "oracle")):
            g = V.ce_gain(ex, name, "nolatent", vs, seed + k)
            if g is not None:
                gains[name] = g
    row = V.exp31(ex, df, vs, seed, ks) if ex is not None else V.missing("3.1", "no per-region cross-entropy")
    _table(df, ks, table_path, gains, vs.level)
    _figure(df, held, ks, figure_stem)
    mac = _macros(df, held, ks)
    for name, tex in (("latent", "Latent"), ("oracle", "Oracle")):
        if name in gains:
            v, lo, hi, _ = gains[name]
            mac[f"decoder{tex}CeGain"], mac[f"decoder{tex}CeGainLow"], mac[f"decoder{tex}CeGainHigh"] = v, lo, hi
    mac["decoderVerdict"] = row["verdict"].replace("_", " ")
    write_macros(mac, macros_path)
    if verdicts_path:
        V.frame([row]).to_csv(verdicts_path, index=False)
    return row


def _table(df: pd.DataFrame, ks, table_path, gains: dict | None = None, level: float | None = None) -> None:
    from swejepa.tex import write_table

    gains = gains or {}
    cols = {"label": "system", "total_params": "params (total)", "ppl": "body ppl", "syntax_valid": "syntax valid"}
    for k in dict.fromkeys([ks[0], ks[-1]]) if len(ks) else []:   # every k, token accuracy, FLOPs: summary.csv
        if f"pass@{k}" in df:
            cols[f"pass@{k}"] = f"pass@{k}"
    t = df[[c for c in cols if c in df]].copy()
    ce_col = "CE gain vs no-latent [CI]"
    t[ce_col] = [("{:.3f} [{:.3f}, {:.3f}]".format(*gains[s][:3]) if s in gains else
                  ("(reference)" if s == "nolatent" else "--")) for s in df["system"]]
    t = t.rename(columns=cols)
    t["params (total)"] = t["params (total)"].astype(int)
    n = int(df["n_humaneval"].iloc[0])
    src = str(df["heldout_source"].iloc[0]) if "heldout_source" in df else "test"
    src_txt = {"test": "test-split", "val": "validation-split"}.get(src, "held-out training-split")
    lv = f"{int(round(100 * level))}\\%" if level else ""
    cap = (f"Experiment 3.1: latent-conditioned decoder vs.\\ baselines. Body perplexity and next-token "
           f"accuracy are teacher-forced on {int(df['n_heldout'].iloc[0])} {src_txt} bodies; CE gain: held-out "
           f"cross-entropy of the equal-parameter no-latent decoder minus the system's (nats/token; $>0$: better "
           f"than the reference), {lv} paired bootstrap CI over held-out regions; syntax validity "
           f"over {int(df['n_generations'].iloc[0])} sampled bodies (tree-sitter; reference bodies: "
           f"{df['reference_syntax_valid'].iloc[0]:.2f}); pass@k with the unbiased estimator on {n} HumanEval "
           f"problems, {int(df['n_samples'].iloc[0])} samples each at temperature "
           f"{df['temperature'].iloc[0]:g}, executed in the sandbox (every k, token accuracy and FLOPs per sample: "
           f"the stage's summary.csv). The oracle decoder reads the teacher's own latents "
           f"(held-out only): the check that the instrument can see a latent's benefit at all.")
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
