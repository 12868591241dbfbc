"""Online targets (student.targets: online): the frozen teacher computes each batch's
per-token targets; they equal the targets extraction stores (fp32), and a student trains
on every region with a window, not only the stored subset (issue 20)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_extract import LAYERS, TINY, corpus, run, tiny_results  # noqa: E402,F401  (fixtures)

from swejepa.layout import Layout  # noqa: E402
from swejepa.settings import StudentSettings  # noqa: E402
from swejepa.student.data import load_student_data  # noqa: E402
from swejepa.student.targets import OnlineTargets, load_targets_data  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fp32_h5(corpus, tiny_results, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("online") / "shard0of1.h5"
    run(corpus, tiny_results, TINY, out, settings={"dtype": "float32", "token_max_regions": 8})
    return out


def test_online_targets_equal_the_stored_ones(fp32_h5, tiny_results):  # noqa: F811
    stored = load_student_data([fp32_h5], "ast", "last")
    student = StudentSettings(targets="online", target_layer="last", mask="ast").with_overrides(
        {"train": {"device": "cpu", "dtype": "fp32"}})
    online = load_targets_data(student, [fp32_h5], teacher=TINY, layout=Layout(str(tiny_results)), index=0)
    assert isinstance(online.targets, OnlineTargets)
    # every region with a window is a training region now, the stored ones among them
    assert online.n_regions > stored.n_regions >= 6
    pos = {int(r): j for j, r in enumerate(online.region_index)}
    cos = []
    for j in range(stored.n_regions):
        k = pos[int(stored.region_index[j])]
        assert stored.n_tok(j) == online.n_tok(k)
        a = stored.targets[stored.offsets[j]:stored.offsets[j + 1]].astype(np.float32)
        b = online.targets[online.offsets[k]:online.offsets[k + 1]]
        cos += list((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))
    assert min(cos) >= 0.999, min(cos)
    # row indexing (as a batch asks) equals slicing
    rows = np.array([online.offsets[3], online.offsets[3] + 1, online.offsets[7]])
    np.testing.assert_array_equal(online.targets[rows][0], online.targets[int(online.offsets[3]):][:1][0])


def test_placed_regions_need_the_teacher(fp32_h5):
    data = load_student_data([fp32_h5], "ast", "last", regions="placed")
    with pytest.raises(RuntimeError, match="student.targets: online"):
        data.targets[np.array([0])]
    with pytest.raises(ValueError, match="needs the teacher"):
        load_targets_data(StudentSettings(targets="online"), [fp32_h5])


def test_student_trains_on_online_targets_and_reports_epochs(fp32_h5, tiny_results, tmp_path):  # noqa: F811
    from swejepa.student.train import train_student

    student = StudentSettings.from_dict(
        {"targets": "online", "max_len": 40, "max_targets": 8,
         "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "pred_d_model": 16, "pred_layers": 1, "pred_heads": 2},
         "train": {"batch_size": 4, "max_steps": 3, "eval_every": 3, "ckpt_every": 3, "resume_every": 0,
                   "eval_batches": 1, "device": "cpu", "dtype": "fp32"}})
    data = load_targets_data(student, [fp32_h5], teacher=TINY, layout=Layout(str(tiny_results)), index=0)
    s = train_student(student, data, tmp_path / "s", seed=0)
    assert s["targets"] == "online" and s["target_regions"] == len(data.indices("train"))
    assert s["epochs"] == pytest.approx(3 * 4 / s["target_regions"])
    assert s["target_tokens"] == int(np.minimum(np.diff(data.offsets)[data.indices("train")], 8).sum())
    assert np.isfinite(s["final_val_loss"])


def test_per_token_set_sized_to_the_students_budget():
    import pandas as pd

    from swejepa.extract.inputs import token_region_count
    from swejepa.settings import ExtractSettings

    table = pd.DataFrame({"split": ["train"] * 80 + ["val"] * 20})
    assert token_region_count(table, ExtractSettings(token_max_regions=None), 0, 1) == 100
    assert token_region_count(table, ExtractSettings(token_max_regions=30), 0, 1) == 30
    # 3 epochs of 120 examples: 40 train regions -> 50 regions at an 80 % train share
    s = ExtractSettings(token_max_regions=None, token_epochs=3.0)
    assert token_region_count(table, s, 120, 1) == 50
    assert token_region_count(table, s, 120, 2) == 25           # per shard
    assert token_region_count(table, s.replace(token_max_regions=10), 120, 1) == 10  # the cap wins
    assert token_region_count(table, s, 10 ** 6, 1) == 100      # never more than there are


def test_storage_limit_stops_before_any_forward(corpus, tiny_results, tmp_path):  # noqa: F811
    from swejepa.extract.run import TokenStorageError

    out = tmp_path / "shard0of1.h5"
    with pytest.raises(TokenStorageError, match="extract.token_storage_gb"):
        run(corpus, tiny_results, TINY, out, settings={"token_max_regions": None, "token_storage_gb": 1e-9})
    assert not out.exists()
