"""The scoring CLI (python -m swejepa.phase0.score): a user's JSONL of {item_id, group_id,
text} embedded by a configured teacher and scored by the workflow's code, teacher beside
TF-IDF; the same numbers as the workflow's functions on the same vectors."""
import json

import numpy as np
import pytest

from swejepa.phase0 import score
from swejepa.phase0.lexical import lexical_bench_ranks
from swejepa.phase0.retrieval import bench_ranks, rank_metrics
from swejepa.settings import Settings

from conftest import REPO

GROUPS = {
    "sum": ["def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
            "def add_all(values):\n    return sum(values)\n"],
    "rev": ["def backwards(s):\n    return s[::-1]\n",
            "def flip(text):\n    out = ''\n    for ch in text:\n        out = ch + out\n    return out\n"],
    "max": ["def biggest(nums):\n    m = nums[0]\n    for n in nums[1:]:\n        if n > m:\n            m = n\n"
            "    return m\n", "def top(seq):\n    return max(seq)\n"],
}


@pytest.fixture
def items_file(tmp_path):
    p = tmp_path / "mine.jsonl"
    recs = [{"item_id": f"{g}{k}", "group_id": g, "text": t} for g, ts in GROUPS.items() for k, t in enumerate(ts)]
    recs.append({"item_id": "spec-sum", "group_id": "sum", "role": "spec", "text": "Add up a list of numbers."})
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_read_user_items_validates(tmp_path, items_file):
    df = score.read_user_items(items_file)
    assert df["item_id"].tolist() == list(range(len(df)))
    assert (df["role"] == "spec").sum() == 1 and df.loc[df.role != "spec", "hard"].all()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"item_id": 1, "text": "x"}) + "\n")
    with pytest.raises(ValueError, match="group_id"):
        score.read_user_items(bad)
    bad.write_text(json.dumps({"item_id": 1, "group_id": 1, "text": "x"}) + "\n"
                   + json.dumps({"item_id": 1, "group_id": 2, "text": "y"}) + "\n")
    with pytest.raises(ValueError, match="duplicate"):
        score.read_user_items(bad)


def test_score_items_is_the_workflow_code(items_file):
    settings = Settings.load(REPO / "config" / "smoke.yaml")
    items = score.read_user_items(items_file)
    rng = np.random.default_rng(0)
    V = rng.standard_normal((len(items), 8)).astype(np.float32)
    out = score.score_items(items, {("half", "mean"): V}, settings, centers=("raw", "centered"))
    r = settings.retrieval
    for method, center, ranks in [("tfidf", "-", lexical_bench_ranks(items)),
                                  ("teacher", "centered", bench_ranks(items, V, r, "centered"))]:
        want = rank_metrics(ranks, r.ks, n_boot=r.bootstrap, seed=settings.seed, level=r.ci_level)
        want = want[want.origin == "all"].set_index("task")
        got = out[(out.method == method) & (out.center == center)].set_index("task")
        assert got.loc["code->code", "mrr"] == want.loc["hard", "mrr"]
        assert got.loc["code->code", "recall@1_lo"] == want.loc["hard", "recall@1_lo"]
        assert got.loc["spec->code", "n_queries"] == 1
    assert int(out[(out.method == "tfidf") & (out.task == "code->code")]["n_queries"].iloc[0]) == 6


def test_cli_end_to_end_with_a_packaged_teacher(items_file, tmp_path, capsys):
    js = tmp_path / "out.json"
    rc = score.main(["--items", str(items_file), "--teacher", "minilm", "--layer", "last", "--pool", "mean",
                     "--center", "--configfile", str(REPO / "config" / "smoke.yaml"), "--device", "cpu",
                     "--json", str(js)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "TF-IDF identifiers" in text and "minilm last/mean/centered" in text and "MRR=" in text
    rows = json.loads(js.read_text())
    assert {r["method"] for r in rows} == {"tfidf", "teacher"}
    t = [r for r in rows if r["method"] == "teacher" and r["task"] == "code->code"][0]
    assert t["n_queries"] == 6 and 0 <= t["mrr"] <= 1 and t["center"] == "centered"
    with pytest.raises(SystemExit):
        score.main(["--items", str(items_file), "--teacher", "nosuch",
                    "--configfile", str(REPO / "config" / "smoke.yaml")])
