"""Evaluation of students: the seed's success check, representations, Experiment 1.2.

- :func:`success_check` — on the val split: the predicted latent's distance to its own
  target vs. to the targets of other masked positions (ratio), and top-1 accuracy of
  picking the own target among ``n_candidates`` random others; per token (others from
  other regions) and per region (mean-pooled predictions and targets). Also the
  collapse monitor: std of predictions across positions vs. that of the targets.
- :func:`region_representations` / :func:`text_representations` — the student's
  representation of a region or a benchmark snippet: the encoder's output over the
  *unmasked* code mean-pooled over the span (``encoder``), or the predictor's output
  for the masked span mean-pooled (``predictor``).
- :func:`checkpoint_metrics` — Experiment 1.2: for each checkpoint its val loss and
  the Phase 0 downstream metrics on the student's representations, computed with
  Phase 0's own functions (:func:`swejepa.phase0.retrieval.bench_metrics`, which
  ranks with ``retrieval_metrics``' index, and :func:`swejepa.phase0.probes.probe_all`).
- :func:`correlation_table` — least-squares fit of each downstream metric on the loss, R²
  (step 0 left out); the sign-aware Experiment 1.2 criterion is :func:`swejepa.verdicts.exp12`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..settings import ProbeSettings, RetrievalSettings
from .data import StudentData, collate, make_batch
from .masking import Example, full_view
from .train import autocast_for, evaluate_loss, normalise_targets, to_device


def _dist(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """Row-wise distance in the training loss's geometry (broadcasting over leading dims)."""
    from .train import token_loss

    return token_loss(a, b, kind)


@torch.no_grad()
def predict_regions(model, data: StudentData, regions, cfg, device="cpu", batch_size=32):
    """Predictions and (normalised) targets of every masked token of ``regions``:
    ``(P [N, d], T [N, d], owner [N])`` with ``owner`` the position in ``regions``."""
    model.eval()
    amp = autocast_for(device, cfg.train.dtype)
    P, T, own = [], [], []
    for i in range(0, len(regions), batch_size):
        chunk = regions[i:i + batch_size]
        b = to_device(make_batch(data, chunk, cfg.max_len, cfg.max_targets, cfg.context), device)
        with amp:
            p = model(b).float()
        t = normalise_targets(b["targets"], cfg.target_norm)
        m = b["tgt_mask"]
        P.append(p[m].cpu())
        T.append(t[m].cpu())
        own.append(np.repeat(np.arange(i, i + len(chunk)), m.sum(1).cpu().numpy()))
    return torch.cat(P), torch.cat(T), np.concatenate(own)


def _own_vs_others(P: torch.Tensor, T: torch.Tensor, owner: np.ndarray, n_candidates: int, kind: str,
                   rng: np.random.Generator, resamples: int | None = None, level: float | None = None,
                   seed: int = 0) -> dict:
    """Distance to the own target vs to ``n_candidates`` random targets of other owners;
    with ``resamples``, the percentile bootstrap CI of the ratio over owners (regions):
    ``sum(d_own) / sum(mean d_other)`` over the tokens of the resampled regions."""
    n = len(P)
    if n < 2 or len(np.unique(owner)) < 2:
        return {"ratio": float("nan"), "top1": float("nan"), "n": int(n), "n_candidates": 0,
                "ratio_ci_low": float("nan"), "ratio_ci_high": float("nan"), "n_owners": int(len(np.unique(owner)))}
    k = int(min(n_candidates, n - 1))
    others = np.empty((n, k), np.int64)
    for i in range(n):
        cand = rng.integers(0, n, size=4 * k + 8)
        cand = cand[owner[cand] != owner[i]][:k]
        while len(cand) < k:  # very few regions: fill from all other owners
            pool = np.flatnonzero(owner != owner[i])
            cand = np.concatenate([cand, rng.choice(pool, size=k - len(cand))])
        others[i] = cand
    d_own = _dist(P, T, kind)                                  # [n]
    d_oth = _dist(P[:, None, :], T[torch.from_numpy(others)], kind)  # [n, k]
    out = {"ratio": float(d_own.mean() / d_oth.mean()),
           "top1": float((d_own[:, None] < d_oth).all(1).float().mean()),
           "n": int(n), "n_candidates": k, "ratio_ci_low": float("nan"), "ratio_ci_high": float("nan")}
    uniq, inv = np.unique(owner, return_inverse=True)
    out["n_owners"] = int(len(uniq))
    if resamples and level:
        from ..uncertainty import ratio_ci

        own_sum = np.bincount(inv, weights=d_own.double().numpy(), minlength=len(uniq))
        oth_sum = np.bincount(inv, weights=d_oth.double().mean(1).numpy(), minlength=len(uniq))
        _, out["ratio_ci_low"], out["ratio_ci_high"] = ratio_ci(own_sum, oth_sum, resamples, level, seed)
    return out


def success_check(model, data: StudentData, regions, cfg, n_candidates: int, seed: int = 0,
                  device: str = "cpu", resamples: int | None = None, level: float | None = None) -> dict:
    """The seed's success check (see module doc). ``chance_top1`` = 1 / (k + 1). With
    ``resamples`` and ``level`` (``verdicts.*``), ``token_ratio_ci_low/high`` and
    ``region_ratio_ci_low/high``: percentile bootstrap CIs of the distance ratios over the
    val regions (the unit of sampling; a region's tokens stay together)."""
    kind = cfg.train.loss
    P, T, owner = predict_regions(model, data, np.asarray(regions), cfg, device)
    rng = np.random.default_rng(seed)
    tok = _own_vs_others(P, T, owner, n_candidates, kind, rng, resamples, level, seed)
    uniq = np.unique(owner)
    Pr = torch.stack([P[torch.from_numpy(owner == u)].mean(0) for u in uniq])
    Tr = torch.stack([T[torch.from_numpy(owner == u)].mean(0) for u in uniq])
    reg = _own_vs_others(Pr, Tr, np.arange(len(uniq)), n_candidates, kind, rng, resamples, level, seed + 1)
    out = {"loss": float(_dist(P, T, kind).mean()), "pred_std": float(P.std(0).mean()),
           "target_std": float(T.std(0).mean())}
    out["std_ratio"] = out["pred_std"] / max(out["target_std"], 1e-12)
    out.update({f"token_{k}": v for k, v in tok.items()})
    out.update({f"region_{k}": v for k, v in reg.items()})
    out["token_chance_top1"] = 1.0 / (tok["n_candidates"] + 1) if tok["n_candidates"] else float("nan")
    out["region_chance_top1"] = 1.0 / (reg["n_candidates"] + 1) if reg["n_candidates"] else float("nan")
    if resamples and level:
        out["ci_level"], out["ci_resamples"] = float(level), int(resamples)
    return out


# ----------------------------------------------------------------------------- representations

# Views per forward of the representation passes (inference only: no effect on the numbers).
VIEW_BATCH = 64


@torch.inference_mode()
def _pool_views(model, views, device, batch_size=VIEW_BATCH, dtype: str = "float32") -> np.ndarray:
    """``views``: list of (ids, pos, span_a, span_b) -> mean encoder output over each span.

    Views are batched by length (less padding; the result keeps the input order) and the
    forward runs in the training's precision (``dtype``: bf16 autocast where training uses
    it, :func:`swejepa.training.precision.autocast_for`)."""
    model.eval()
    order = sorted(range(len(views)), key=lambda i: len(views[i][0]))
    out: list = [None] * len(views)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        exs = [Example(views[j][0], views[j][1], np.zeros(0, np.int64), np.zeros(0, np.int64), 0, (0, 0))
               for j in idx]
        # collate needs at least one target column; give every example a dummy one
        for e in exs:
            e.tgt_pos = np.zeros(1, np.int64)
            e.tgt_rows = np.zeros(1, np.int64)
        b = to_device(collate(exs), device)
        with autocast_for(device, dtype):
            h = model.encode(b["ctx_ids"], b["ctx_pos"], b["ctx_mask"]).float()
        for k, j in enumerate(idx):
            a, e = views[j][2], views[j][3]
            out[j] = h[k, a:max(e, a + 1)].mean(0).cpu().numpy()
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


def region_representations(model, data: StudentData, regions, cfg, how: str,
                           device: str = "cpu") -> np.ndarray:
    """One vector per region (see module doc)."""
    regions = np.asarray(regions)
    if how == "predictor":
        P, _, owner = predict_regions(model, data, regions, cfg, device)
        return np.stack([P[torch.from_numpy(owner == i)].mean(0).numpy() for i in range(len(regions))])
    if how != "encoder":
        raise ValueError(f"representation must be 'encoder' or 'predictor', got {how!r}")
    views = []
    for j in regions:
        w = int(data.window[j])
        a = int(data.pos_start[j])
        views.append(full_view(data.input_ids[w], 0, int(data.length[w]), a, a + data.n_tok(int(j)),
                               cfg.max_len))
    return _pool_views(model, views, device, dtype=cfg.train.dtype)


def text_representations(model, token_ids: list, spans: list, cfg, device: str = "cpu") -> np.ndarray:
    """Encoder representations of tokenised snippets, mean over token span ``[a, b)``."""
    views = []
    for ids, (a, b) in zip(token_ids, spans):
        ids = np.asarray(ids, np.int64)
        a = int(min(max(a, 0), max(len(ids) - 1, 0)))
        b = int(max(min(b, len(ids)), a + 1))
        views.append(full_view(ids, 0, len(ids), a, b, cfg.max_len))
    return _pool_views(model, views, device, dtype=cfg.train.dtype)


def tokenize_items(tokenizer, items: pd.DataFrame):
    """Token ids (with the teacher's special tokens around them, as in extraction) and the
    token span of ``[span_start_char, span_end_char)`` of every benchmark item."""
    from ..extract import special_layout
    from ..teachers.fim import token_span

    pre, post = special_layout(tokenizer)
    ids_out, spans = [], []
    for text, s0, s1 in zip(items["text"], items["span_start_char"], items["span_end_char"]):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        off = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        a, b = token_span(off, int(s0), int(s1))
        ids_out.append(list(pre) + list(enc["input_ids"]) + list(post))
        spans.append((a + len(pre), b + len(pre)))
    return ids_out, spans


# ----------------------------------------------------------------------------- Experiment 1.2

def query_ranks(items: pd.DataFrame, vectors: np.ndarray, retrieval: RetrievalSettings, task: str):
    """Per query of benchmark task ``task`` (Phase 0's :func:`~swejepa.phase0.retrieval.bench_tasks`,
    the same gallery, relevance and exclusion as ``bench_metrics``): ``(item ids, rank of the
    first relevant item)`` (inf when none), for the queries with at least one relevant item
    (those ``bench_metrics`` averages over). Their means give its ``mrr`` and ``recall@1``."""
    from ..phase0.retrieval import bench_tasks, search

    tasks = bench_tasks(items)
    if task not in tasks or not len(tasks[task]["queries"]):
        return np.zeros(0, np.int64), np.zeros(0)
    t = tasks[task]
    V = np.asarray(vectors, dtype=np.float32)
    gal = V[t["gallery"]]
    _, ids = search(V[t["queries"]], gal, len(gal), exclude=t["exclude"], spec=retrieval)
    ok = [i for i, r in enumerate(t["relevant"]) if r]
    first = np.full(len(ok), np.inf)
    for j, i in enumerate(ok):
        hits = np.nonzero(np.isin(ids[i], list(t["relevant"][i])))[0]
        if len(hits):
            first[j] = hits[0] + 1
    return items["item_id"].to_numpy()[t["queries"][ok]], first


def surface_probe(data: StudentData, probe, probes: ProbeSettings, seed: int) -> pd.DataFrame:
    """Phase 0's surface baseline on the student's probe sample: the same probe on
    ``log1p(region tokens)``, same functions, groups, folds (compute once per student)."""
    from ..phase0.probes import probe_all

    pos, props, groups = probe
    x = np.log1p(np.array([data.n_tok(int(j)) for j in pos], dtype=float))[:, None]
    return probe_all(x, props, groups, probes, seed)


def _selectivity_units(lat: pd.DataFrame, sur: pd.DataFrame) -> np.ndarray:
    """Per-function contributions ``u_i`` to ``probe_selectivity``: the mean over the count
    properties of ``((y - surface oof)^2 - (y - student oof)^2)_i / (SST / n)``; their mean is
    exactly ``mean_p (R2_oof(student) - R2_oof(surface))`` (SST fixed at the sample's)."""
    lo, so = lat.attrs.get("oof", {}), sur.attrs.get("oof", {})
    parts = []
    for p, (y, pl) in lo.items():
        if p not in so:
            continue
        ps = so[p][1]
        sst = ((y - y.mean()) ** 2).sum() / len(y)
        if sst > 0 and np.isfinite(pl).all() and np.isfinite(ps).all():
            parts.append(((y - ps) ** 2 - (y - pl) ** 2) / sst)
    return np.mean(parts, axis=0) if parts else np.zeros(0)


def downstream_metrics(model, data: StudentData, cfg, *, how: str, retrieval: RetrievalSettings,
                       probes: ProbeSettings, seed: int, items=None, item_tokens=None, probe=None,
                       surface: pd.DataFrame | None = None, units: dict | None = None, device="cpu") -> dict:
    """Phase 0 retrieval (bench items; ``retrieval``'s index and ks) and probes (regions;
    ``probes`` and ``seed`` give the CV) on the student's representations (``how``:
    encoder | predictor).

    ``probe`` = ``(positions into data's regions, props DataFrame, groups)`` as returned by
    :func:`swejepa.phase0.jobs.probe_sample`; ``surface`` = :func:`surface_probe` of it (computed
    here when not given). Returns flat ``{metric: value}``: ``{task}_recall1/5``, ``{task}_mrr``
    for every benchmark task (``hard_*`` once items are flagged hard), ``probe_{p}_r2`` /
    ``probe_{p}_acc`` and the selectivities ``probe_{p}_sel`` (out-of-fold R² − the surface
    baseline's for counts, accuracy − the baseline's for categories) and ``probe_selectivity``
    (their mean over the count properties). ``units`` (a dict) receives per-unit values for
    bootstrap CIs: ``hard_mrr``/``hard_recall1`` per query (ids ``hard_ids``) and
    ``probe_selectivity`` per function (ids ``probe_ids``, func_keys)."""
    out: dict = {}
    if items is not None and item_tokens is not None and len(items):
        from ..phase0.retrieval import bench_metrics

        V = text_representations(model, item_tokens[0], item_tokens[1], cfg, device)
        m = bench_metrics(items, V, retrieval)
        for _, r in m[m["origin"] == "all"].iterrows():
            for col in ("recall@1", "recall@5", "mrr"):
                if col in r and pd.notna(r[col]):
                    out[f"{r['task']}_{col.replace('@', '')}"] = float(r[col])
        if units is not None and "hard_mrr" in out:
            ids, first = query_ranks(items, V, retrieval, "hard")
            units["hard_ids"] = [int(i) for i in ids]
            units["hard_mrr"] = [float(x) for x in np.where(np.isfinite(first), 1.0 / first, 0.0)]
            units["hard_recall1"] = [float(x) for x in (first <= 1)]
    if probe is not None and len(probe[0]):
        from ..phase0.probes import probe_all

        pos, props, groups = probe
        X = region_representations(model, data, np.asarray(pos), cfg, how, device)
        r = probe_all(X, props, groups, probes, seed)
        s = surface if surface is not None else surface_probe(data, probe, probes, seed)
        sref = s.set_index("property")
        for _, row in r.iterrows():
            p = row["property"]
            if row["task"] == "regression":
                out[f"probe_{p}_r2"] = float(row["r2_mean"])
                if p in sref.index:
                    out[f"probe_{p}_sel"] = float(row["r2_oof"] - sref.loc[p, "r2_oof"])
            else:
                out[f"probe_{p}_acc"] = float(row["acc_mean"])
                if p in sref.index:
                    out[f"probe_{p}_sel"] = float(row["acc_mean"] - sref.loc[p, "acc_mean"])
        u = _selectivity_units(r, s)
        if len(u):
            out["probe_selectivity"] = float(u.mean())
            if units is not None:
                units["probe_ids"] = [str(k) for k in props["func_key"]] if "func_key" in props else \
                    [int(i) for i in pos]
                units["probe_selectivity"] = [float(x) for x in u]
    return out


def checkpoint_metrics(ckpt_paths, data: StudentData, cfg, val_regions, *, how: str, retrieval: RetrievalSettings,
                       probes: ProbeSettings, seed: int, items=None, item_tokens=None, probe=None,
                       device="cpu", log=None) -> pd.DataFrame:
    """One row per checkpoint: step, flops, val loss, and :func:`downstream_metrics`."""
    from .checkpoint import load_weights

    rows = []
    surface = surface_probe(data, probe, probes, seed) if probe is not None and len(probe[0]) else None
    for p in ckpt_paths:
        model, meta = load_weights(p, device)
        amp = autocast_for(device, cfg.train.dtype)
        ev = evaluate_loss(model, data, np.asarray(val_regions), cfg, device, amp)
        row = {"step": int(meta["step"]), "flops": float(meta.get("flops", 0.0)), **ev}
        row.update(downstream_metrics(model, data, cfg, how=how, retrieval=retrieval, probes=probes, seed=seed,
                                      items=items, item_tokens=item_tokens, probe=probe, surface=surface,
                                      device=device))
        rows.append(row)
        if log is not None:
            log.info("checkpoint %s: %s", p, {k: round(v, 4) for k, v in row.items() if isinstance(v, float)})
    return pd.DataFrame(rows).sort_values("step").reset_index(drop=True)


from .report import correlation_table, linear_fit  # noqa: E402,F401  (re-exported)
