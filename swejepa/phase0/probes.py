"""Linear probes on frozen representations (Experiment 0.3).

Protocol, per property:
  * outer cross-validation grouped by package: every package lies in exactly one fold
    (:func:`group_folds`), so no package is in both train and test;
  * standardisation fitted on the training part of each fold only;
  * regularisation chosen by an inner grouped CV on the training part (nested CV);
  * regression (ridge): R² and Spearman ρ per fold (plus ``r2_oof``, the R² of all
    out-of-fold predictions pooled, less sensitive to between-package shifts); classification (multinomial logistic
    regression): accuracy and macro-F1, beside the majority-class baseline of the
    same fold; mean ± std over the outer folds, and the per-fold values (``r2_folds``,
    ``acc_folds``, ``f1_folds``: JSON lists, fold order) for paired comparisons and CIs;
  * count targets in ``probes.log_targets`` are fitted and scored as ``log1p(count)``
    (column ``target_scale``): they are heavy-tailed, and on the raw scale a few very long
    functions dominate the variance.
Controls (random-init teacher, surface baseline) are ordinary calls on other features
with the same ``groups``, settings and seed: the folds depend only on them, so they are shared
(the fold lists of two calls on the same sample can be subtracted fold by fold).
The returned frame's ``attrs["oof"]`` holds, per regression property, ``(y, out-of-fold
prediction)`` on the fitted scale, and ``attrs["folds"]`` the fold of every sample.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..settings import ProbeSettings

REGRESSION = ("cyclomatic", "n_branches", "n_loops", "n_external_calls", "loc")
CLASSIFICATION = ("return_category", "side_effects")



def _cfg(probes: ProbeSettings, seed: int) -> dict:
    return {"folds": probes.folds, "inner_folds": probes.inner_folds, "alphas": list(probes.alphas),
            "Cs": list(probes.Cs), "max_iter": probes.max_iter, "seed": seed, "classifier": probes.classifier,
            "regression": list(REGRESSION), "classification": list(CLASSIFICATION),
            "log_targets": list(probes.log_targets)}


def group_folds(groups, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold id (0..n_folds-1) per sample; all samples of a group share one fold.

    Groups are assigned largest first to the currently smallest fold (ties broken by a
    seeded shuffle), which balances fold sizes. Deterministic in (groups, n_folds, seed)."""
    groups = np.asarray(groups).astype(str)
    uniq, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    n_folds = int(min(n_folds, len(uniq)))
    if n_folds < 2:
        raise ValueError(f"grouped CV needs at least 2 groups, got {len(uniq)}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(uniq))
    order = perm[np.argsort(-counts[perm], kind="stable")]
    sizes = np.zeros(n_folds, dtype=np.int64)
    gfold = np.empty(len(uniq), dtype=np.int64)
    for g in order:
        f = int(np.argmin(sizes))
        gfold[g] = f
        sizes[f] += counts[g]
    return gfold[inv]


def _standardise(xtr, xte):
    mu = xtr.mean(axis=0)
    sd = xtr.std(axis=0)
    sd[sd < 1e-8] = 1.0
    return (xtr - mu) / sd, (xte - mu) / sd


class _RidgePath:
    """Ridge (with intercept) from one train/test split of the features: one eigen-
    decomposition of the standardised training features, then predictions for any targets
    and every alpha (:meth:`predict`). The probes of every property share one path per
    (outer fold, inner fold) split."""

    def __init__(self, xtr, xte):
        xtr, xte = _standardise(xtr, xte)
        # float32 linear algebra (standardised features, alpha >= small): ~2x faster, ample precision
        self.xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
        self.primal = self.xtr.shape[1] <= self.xtr.shape[0]
        if self.primal:  # eigen-decomposition of X'X (d x d)
            lam, self.v = np.linalg.eigh(self.xtr.T @ self.xtr)
            self.xv = xte @ self.v
        else:  # dual: eigen-decomposition of XX' (n x n)
            lam, self.v = np.linalg.eigh(self.xtr @ self.xtr.T)
            self.xv = (xte @ self.xtr.T) @ self.v
        self.lam = np.clip(lam, 0.0, None)

    def predict(self, ytr, alphas) -> np.ndarray:
        """Predictions ``[n_alpha, n_te, n_targets]``."""
        ym = ytr.mean(axis=0)
        yc = (ytr - ym).astype(np.float32)
        vty = self.v.T @ (self.xtr.T @ yc) if self.primal else self.v.T @ yc
        out = np.empty((len(alphas), len(self.xv), ytr.shape[1]))
        for i, a in enumerate(alphas):
            out[i] = self.xv @ ((1.0 / (self.lam + a))[:, None] * vty) + ym
        return out


class _Paths:
    """The ridge paths of one probe run, built on first use: ``(fold, None)`` = outer train
    vs test, ``(fold, g)`` = inner fold ``g`` of the outer training part."""

    def __init__(self, X, groups, folds, c):
        self.X, self.groups, self.folds, self.c = X, groups, folds, c
        self._paths: dict = {}
        self._inner: dict = {}

    def inner(self, f):
        if f not in self._inner:
            tr = self.folds != f
            self._inner[f] = _inner_split(self.groups[tr], self.c["inner_folds"], self.c["seed"])
        return self._inner[f]

    def get(self, f, g=None) -> _RidgePath:
        if (f, g) not in self._paths:
            tr, te = self.folds != f, self.folds == f
            if g is None:
                self._paths[f, g] = _RidgePath(self.X[tr], self.X[te])
            else:
                inner = self.inner(f)
                Xtr = self.X[tr]
                self._paths[f, g] = _RidgePath(Xtr[inner != g], Xtr[inner == g])
        return self._paths[f, g]


def _r2(y, p):
    ss = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - ((y - p) ** 2).sum(axis=0) / ss


def _spearman(y, p):
    """Spearman rank correlation (average ranks for ties); NaN for constant input."""
    if np.std(y) == 0 or np.std(p) == 0:
        return float("nan")
    ry = pd.Series(y).rank(method="average").to_numpy()
    rp = pd.Series(p).rank(method="average").to_numpy()
    return float(np.corrcoef(ry, rp)[0, 1])


def _inner_split(groups_tr, k, seed):
    k = min(k, len(np.unique(groups_tr)))
    return group_folds(groups_tr, k, seed + 1) if k >= 2 else None


def _probe_regression(X, Y, groups, folds, c, paths: _Paths | None = None) -> list[dict]:
    alphas = np.asarray(c["alphas"], dtype=float)
    paths = paths or _Paths(X, groups, folds, c)
    n_f = folds.max() + 1
    res = {j: {"r2": [], "spearman": [], "param": []} for j in range(Y.shape[1])}
    oof = np.full(Y.shape, np.nan)
    for f in range(n_f):
        tr, te = folds != f, folds == f
        # nested CV: pick alpha per target by inner grouped CV on the training part
        inner = paths.inner(f)
        Ytr = Y[tr]
        if inner is None:
            best = np.full(Y.shape[1], len(alphas) // 2)
        else:
            sse = np.zeros((len(alphas), Y.shape[1]))
            for g in range(inner.max() + 1):
                itr, ite = inner != g, inner == g
                p = paths.get(f, g).predict(Ytr[itr], alphas)
                sse += ((p - Ytr[ite][None]) ** 2).sum(axis=1)
            best = sse.argmin(axis=0)
        p = paths.get(f).predict(Ytr, alphas)
        for j in range(Y.shape[1]):
            pj = p[best[j], :, j]
            oof[te, j] = pj
            res[j]["r2"].append(float(_r2(Y[te][:, j:j + 1], pj[:, None])[0]))
            res[j]["spearman"].append(_spearman(Y[te][:, j], pj))
            res[j]["param"].append(float(alphas[best[j]]))
    for j in range(Y.shape[1]):  # R² of all out-of-fold predictions against the global mean
        res[j]["r2_oof"] = float(_r2(Y[:, j:j + 1], oof[:, j:j + 1])[0])
        res[j]["oof"] = oof[:, j]
    return [res[j] for j in range(Y.shape[1])]


def _fit_logreg(xtr, ytr, C, max_iter, warm=None):
    from sklearn.linear_model import LogisticRegression

    if warm is not None:
        m = warm
        m.set_params(C=C)
    else:
        m = LogisticRegression(C=C, max_iter=max_iter, tol=1e-3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(xtr, ytr)
    return m


def _ridge_classify(path: _RidgePath, ytr, alphas) -> np.ndarray:
    """Labels ``[n_alpha, n_te]``: ridge on the one-hot coded training labels, argmax."""
    classes = np.unique(ytr)
    onehot = (ytr[:, None] == classes[None, :]).astype(np.float64)
    return classes[path.predict(onehot, alphas).argmax(axis=2)]


def macro_f1(y, p) -> float:
    """Macro-F1 over the labels present in ``y`` or ``p`` (a class with no true and no
    predicted sample has none), 0 where a class's precision and recall are undefined:
    sklearn's ``f1_score(average="macro", zero_division=0)``, without its per-call overhead."""
    labels, inv = np.unique(np.concatenate([np.asarray(y), np.asarray(p)]), return_inverse=True)
    yi, pi = inv[:len(y)], inv[len(y):]
    k = len(labels)
    tp = np.bincount(yi[yi == pi], minlength=k).astype(float)
    denom = np.bincount(yi, minlength=k) + np.bincount(pi, minlength=k)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean()) if k else 0.0


def _choose_ridge_alpha(paths: _Paths, f: int, ytr, c) -> float:
    """The alpha of the best inner-CV macro-F1 (grouped inner folds of outer fold ``f``)."""
    alphas = np.asarray(c["alphas"], dtype=float)
    inner = paths.inner(f)
    if inner is None or len(alphas) == 1:
        return float(alphas[len(alphas) // 2])
    score = np.zeros(len(alphas))
    for g in range(inner.max() + 1):
        itr, ite = inner != g, inner == g
        if len(np.unique(ytr[itr])) < 2:
            continue
        preds = _ridge_classify(paths.get(f, g), ytr[itr], alphas)
        for i in range(len(alphas)):
            score[i] += macro_f1(ytr[ite], preds[i]) * ite.sum()
    return float(alphas[int(np.argmax(score))])


def _probe_classification(X, y, groups, folds, c, paths: _Paths | None = None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    Cs = list(c["Cs"])
    res = {"acc": [], "f1": [], "maj_acc": [], "maj_f1": [], "param": []}
    for f in range(folds.max() + 1):
        tr, te = folds != f, folds == f
        Xtr, ytr = X[tr], y[tr]
        vals, cnts = np.unique(ytr, return_counts=True)
        majority = vals[np.argmax(cnts)]
        if len(vals) < 2:
            pred = np.full(te.sum(), majority)
            C = float("nan")
        elif c.get("classifier", "logistic") == "ridge":
            paths = paths or _Paths(X, groups, folds, c)
            C = _choose_ridge_alpha(paths, f, ytr, c)
            pred = _ridge_classify(paths.get(f), ytr, [C])[0]
        else:
            inner = _inner_split(groups[tr], c["inner_folds"], c["seed"])
            if inner is None or len(Cs) == 1:
                C = Cs[len(Cs) // 2]
            else:
                score = np.zeros(len(Cs))
                for g in range(inner.max() + 1):
                    itr, ite = inner != g, inner == g
                    if len(np.unique(ytr[itr])) < 2:
                        continue
                    a, b = _standardise(Xtr[itr], Xtr[ite])
                    # regularisation path, strongest first, each fit warm-started from the last
                    m = None
                    for i in np.argsort(Cs):
                        m = _fit_logreg(a, ytr[itr], Cs[i], c["max_iter"], warm=m)
                        score[i] += f1_score(ytr[ite], m.predict(b), average="macro", zero_division=0) * ite.sum()
                C = Cs[int(np.argmax(score))]
            a, b = _standardise(Xtr, X[te])
            pred = _fit_logreg(a, ytr, C, c["max_iter"]).predict(b)
        yte = y[te]
        maj = np.full(len(yte), majority)
        res["acc"].append(float(accuracy_score(yte, pred)))
        res["f1"].append(float(f1_score(yte, pred, average="macro", zero_division=0)))
        res["maj_acc"].append(float(accuracy_score(yte, maj)))
        res["maj_f1"].append(float(f1_score(yte, maj, average="macro", zero_division=0)))
        res["param"].append(float(C))
    return res


def _ms(v):
    v = np.asarray(v, dtype=float)
    if len(v) == 0 or np.all(np.isnan(v)):
        return float("nan"), float("nan")
    return float(np.nanmean(v)), float(np.nanstd(v))


COLUMNS = ["property", "task", "target_scale", "n", "n_groups", "n_folds", "r2_mean", "r2_std", "r2_oof",
           "spearman_mean", "spearman_std", "acc_mean", "acc_std", "f1_mean", "f1_std", "majority_acc_mean",
           "majority_acc_std", "majority_f1_mean", "majority_f1_std", "param_median", "r2_folds", "acc_folds",
           "f1_folds"]


def _folds_json(v) -> str:
    """Per-fold values as a JSON list (non-finite values as null)."""
    import json

    return json.dumps([float(x) if np.isfinite(x) else None for x in np.asarray(v, dtype=float)])


def fold_values(cell) -> np.ndarray:
    """The per-fold list of a ``*_folds`` cell (JSON; null -> nan); empty when missing."""
    import json

    if not isinstance(cell, str) or not cell:
        return np.zeros(0)
    return np.array([np.nan if x is None else float(x) for x in json.loads(cell)], dtype=float)


def probe_all(X: np.ndarray, props: pd.DataFrame, groups: np.ndarray, probes: ProbeSettings,
              seed: int = 0) -> pd.DataFrame:
    """Probe every property of ``props`` (row i = sample i of ``X``) with grouped nested CV.

    ``probes`` gives ``folds``, ``inner_folds``, ``alphas`` (ridge), ``Cs`` (logistic),
    ``max_iter`` and ``log_targets`` (regression targets fitted as ``log1p``); ``seed`` the
    folds. The properties are :data:`REGRESSION` and :data:`CLASSIFICATION` (those missing
    from ``props`` are skipped).
    Returns one row per property with the columns in ``COLUMNS`` (metrics that do not
    apply to the task are NaN; ``param_median`` is the median chosen alpha or C), and
    ``attrs["oof"]``/``attrs["folds"]`` (module doc)."""
    c = _cfg(probes, seed)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    groups = np.asarray(groups).astype(str)
    if not (len(X) == len(props) == len(groups)):
        raise ValueError("X, props and groups must have the same number of rows")
    props = props.reset_index(drop=True)
    reg = [p for p in c["regression"] if p in props.columns]
    cls = [p for p in c["classification"] if p in props.columns]
    scale = {p: "log1p" if p in c["log_targets"] else "raw" for p in reg}
    if len(np.unique(groups)) < 2:  # grouped CV impossible: report the gap, do not fail
        out = pd.DataFrame([{"property": p, "task": "regression" if p in reg else "classification",
                             "target_scale": scale.get(p, "label"),
                             "n": len(X), "n_groups": int(len(np.unique(groups))), "n_folds": 0}
                            for p in reg + cls], columns=COLUMNS)
        out.attrs["oof"], out.attrs["folds"] = {}, np.zeros(len(X), dtype=np.int64)
        return out
    folds = group_folds(groups, c["folds"], c["seed"])
    base = {"n": len(X), "n_groups": int(len(np.unique(groups))), "n_folds": int(folds.max() + 1)}
    rows, oof = [], {}
    paths = _Paths(X, groups, folds, c)  # one eigendecomposition per split, shared by every property
    if reg:
        Y = props[reg].astype(float).to_numpy(copy=True)
        logs = np.array([scale[p] == "log1p" for p in reg])
        Y[:, logs] = np.log1p(np.clip(Y[:, logs], 0.0, None))
        for j, (name, r) in enumerate(zip(reg, _probe_regression(X, Y, groups, folds, c, paths))):
            r2m, r2s = _ms(r["r2"])
            spm, sps = _ms(r["spearman"])
            rows.append({"property": name, "task": "regression", "target_scale": scale[name], **base,
                         "r2_mean": r2m, "r2_std": r2s, "r2_oof": r["r2_oof"],
                         "spearman_mean": spm, "spearman_std": sps,
                         "param_median": float(np.median(r["param"])), "r2_folds": _folds_json(r["r2"])})
            oof[name] = (Y[:, j].copy(), r["oof"])
    for name in cls:
        y = props[name].astype(str).to_numpy()
        r = _probe_classification(X, y, groups, folds, c, paths)
        row = {"property": name, "task": "classification", "target_scale": "label", **base}
        for k, col in (("acc", "acc"), ("f1", "f1"), ("maj_acc", "majority_acc"), ("maj_f1", "majority_f1")):
            row[f"{col}_mean"], row[f"{col}_std"] = _ms(r[k])
        row["param_median"] = float(np.nanmedian(r["param"])) if not np.all(np.isnan(r["param"])) else float("nan")
        row["acc_folds"], row["f1_folds"] = _folds_json(r["acc"]), _folds_json(r["f1"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["oof"], out.attrs["folds"] = oof, folds
    return out
