"""Lexical retrieval baseline for Experiment 0.2: TF-IDF over identifiers.

Each snippet becomes a bag of identifier tokens: every identifier (keywords dropped) and
its sub-tokens (snake_case and camelCase parts, lower-cased). Cosine similarity of
sublinear TF-IDF vectors (fitted on all bench items) ranks the gallery. This is the
"surface matching" the latent representations must beat."""

from __future__ import annotations

import keyword
import re

import numpy as np
import pandas as pd

from .retrieval import bench_ranks_from_scores, rank_metrics

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_KW = set(keyword.kwlist) | set(getattr(keyword, "softkwlist", []))


def identifier_tokens(text: str) -> list[str]:
    out = []
    for ident in _IDENT.findall(text):
        if ident in _KW:
            continue
        out.append(ident.lower())
        parts = [p.lower() for s in ident.split("_") if s for p in _CAMEL.findall(s)]
        if len(parts) > 1:
            out.extend(parts)
    return out


def tfidf_matrix(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=identifier_tokens, sublinear_tf=True, norm="l2")
    return vec.fit_transform(texts)


def lexical_bench_ranks(items: pd.DataFrame) -> pd.DataFrame:
    """Per-query first-relevant ranks of every benchmark task, scored by TF-IDF cosine over
    identifiers (:func:`swejepa.phase0.retrieval.bench_ranks_from_scores`)."""
    M = tfidf_matrix(items["text"].tolist())

    def score(q_rows, g_rows):
        return (M[q_rows] @ M[g_rows].T).toarray()

    return bench_ranks_from_scores(items, score)


def lexical_bench_metrics(items: pd.DataFrame, ks, **interval) -> pd.DataFrame:
    """The benchmark tasks scored by TF-IDF cosine over identifiers; ``interval``:
    :func:`~swejepa.phase0.retrieval.rank_metrics` options (by_transform, n_boot, seed, level)."""
    return rank_metrics(lexical_bench_ranks(items), ks, **interval)
