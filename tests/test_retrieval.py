"""Retrieval metrics on toy indices with known neighbours; the benchmark task logic;
the lexical baseline."""
import numpy as np
import pandas as pd
import pytest

from swejepa.phase0.lexical import identifier_tokens, lexical_bench_metrics
from swejepa.phase0.retrieval import (bench_metrics, bench_tasks, metrics_from_ranking, retrieval_metrics,
                                      scores_ranking, search)
from swejepa.settings import RetrievalSettings


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems: one BLAS thread is fastest (and fair on a shared machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def test_known_neighbours():
    gallery = np.eye(5, dtype=np.float32)
    # query 0 closest to e2, then e3; query 1 closest to e0 then e4
    queries = np.array([[0, 0, 1.0, 0.5, 0], [1.0, 0, 0, 0, 0.6]], dtype=np.float32)
    m = retrieval_metrics(queries, gallery, [{2}, {4}], spec=RetrievalSettings(ks=(1, 2, 5)))
    assert m["recall@1"] == 0.5 and m["recall@2"] == 1.0 and m["recall@5"] == 1.0
    assert m["mrr"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["n_queries"] == 2
    # scale does not matter (cosine), a relevant item never retrieved counts 0 in MRR
    m2 = retrieval_metrics(queries * 7, gallery * 3, [{2}, set()], spec=RetrievalSettings(ks=(1,)))
    assert m2["recall@1"] == 0.5 and m2["mrr"] == pytest.approx(0.5)


def test_exclude_self_and_index_types():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 32))
    gallery = np.repeat(centres, 2, axis=0) + 0.01 * rng.standard_normal((40, 32))
    # query = gallery row 2k, relevant = row 2k+1 (its pair); without excluding itself row 2k wins
    q = gallery[0::2]
    rel = [{2 * k + 1} for k in range(20)]
    assert retrieval_metrics(q, gallery, rel, spec=RetrievalSettings(ks=(1,)))["recall@1"] == 0.0
    for index in ("flat", "hnsw", "ivf"):
        spec = RetrievalSettings(ks=(1,), index=index, nlist=1)
        m = retrieval_metrics(q, gallery, rel, exclude=[2 * k for k in range(20)], spec=spec)
        assert m["recall@1"] == 1.0 and m["mrr"] == 1.0, index
    s, ids = search(q, gallery, 3, exclude=[2 * k for k in range(20)])
    assert (ids[:, 0] == np.arange(20) * 2 + 1).all() and (np.diff(s, axis=1) <= 1e-6).all()
    with pytest.raises(ValueError):
        retrieval_metrics(q, gallery, rel[:3])


def test_scores_ranking_matches_metrics():
    scores = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.3]])
    order = scores_ranking(scores, exclude=[1, None])
    assert order[0].tolist() == [2, 0, 1] and order[1].tolist() == [0, 2, 1]
    m = metrics_from_ranking(order, [{0}, {2}], ks=(1, 2))
    assert m["recall@1"] == 0.0 and m["recall@2"] == 1.0 and m["mrr"] == pytest.approx(0.5)


def _items():
    rows = []
    def add(g, role, origin, transform, text):
        rows.append({"item_id": len(rows), "group_id": g, "role": role, "origin": origin, "transform": transform,
                     "text": text, "span_start_char": 0, "span_end_char": len(text), "source_key": str(g)})
    add(0, "original", "humaneval", "none", "def add(a, b):\n    return a + b\n")
    add(0, "rewrite", "humaneval", "rename", "def add(x, y):\n    return x + y\n")
    add(0, "spec", "humaneval", "spec", 'def add(a, b):\n    """Sum of two numbers."""\n')
    add(1, "original", "heldout", "none", "def mul(a, b):\n    return a * b\n")
    add(1, "rewrite", "heldout", "rename", "def mul(p, q):\n    return p * q\n")
    add(1, "rewrite", "heldout", "strip_docs", "def mul(a, b):\n    return a * b\n")
    add(2, "distractor", "heldout", "none", "def parse_config(path):\n    return open(path).read()\n")
    return pd.DataFrame(rows)


def test_bench_tasks_relevance():
    items = _items()
    t = bench_tasks(items)
    assert t["refactor"]["gallery"].tolist() == [0, 1, 3, 4, 5, 6]  # spec items are not in the gallery
    assert t["refactor"]["queries"].tolist() == [1, 4, 5]
    # query item 4 (gallery pos 3): relevant = original (pos 2) and sibling (pos 4), not itself
    assert t["refactor"]["relevant"][1] == {2, 4} and t["refactor"]["exclude"][1] == 3
    assert t["spec"]["queries"].tolist() == [2] and t["spec"]["relevant"][0] == {0, 1}
    assert t["spec"]["exclude"] is None


def test_bench_metrics_planted_and_random():
    items = _items()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16)) * 5
    V = centres[items["group_id"].to_numpy()] + 0.1 * rng.standard_normal((len(items), 16))
    m = bench_metrics(items, V, RetrievalSettings(ks=(1, 5)))
    a = m[m["origin"] == "all"].set_index("task")
    assert a.loc["refactor", "recall@1"] == 1.0 and a.loc["spec", "mrr"] == 1.0
    assert set(m["origin"]) == {"all", "heldout", "humaneval"}
    assert a.loc["refactor", "n_queries"] == 3
    # vectors that put every query nearest to the distractor: recall@1 = 0
    W = np.eye(16)[: len(items)].copy()  # all items orthogonal ...
    W[6] = W[:6].sum(axis=0)  # ... except the distractor, similar to every one
    a2 = bench_metrics(items, W, RetrievalSettings(ks=(1,))).query("origin == 'all'").set_index("task")
    assert a2.loc["refactor", "recall@1"] == 0.0 and a2.loc["spec", "recall@1"] == 0.0
    with pytest.raises(ValueError):
        bench_metrics(items, V[:3])


def test_lexical_baseline():
    assert identifier_tokens("def getValue(self, max_len): return None") == \
        ["getvalue", "get", "value", "self", "max_len", "max", "len"]
    m = lexical_bench_metrics(_items(), ks=(1,)).query("origin == 'all'").set_index("task")
    # the strip_docs rewrite of mul is identical to its original: lexical finds it
    assert m.loc["spec", "recall@1"] == 1.0 and m.loc["refactor", "recall@1"] > 0


def test_hard_task_queries_only_flagged_items():
    items = _items()
    assert "hard" not in bench_tasks(items)          # no item flagged: no task
    items = items.assign(hard=False)
    rew = items.index[items["role"] == "rewrite"][:2]
    items.loc[rew, "hard"] = True
    t = bench_tasks(items)["hard"]
    assert list(t["queries"]) == list(rew)
    for q, rel, own in zip(t["queries"], t["relevant"], t["exclude"]):
        g = items.at[q, "group_id"]
        gal = t["gallery"]
        assert own is not None and items.at[gal[own], "item_id"] == items.at[q, "item_id"]
        assert rel == {p for p, r in enumerate(gal) if items.at[r, "group_id"] == g and r != q
                       and items.at[r, "role"] != "distractor"}
    rng = np.random.default_rng(0)
    V = rng.standard_normal((len(items), 8))
    m = bench_metrics(items, V, RetrievalSettings(ks=(1,)))
    assert set(m["task"]) == {"refactor", "spec", "hard"}
    assert m.query("task == 'hard' and origin == 'all'")["n_queries"].item() == 2
