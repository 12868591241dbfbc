"""Issue 18: corpora at scale without a hub — the installed distributions
(``site-packages``), The Stack through ``datasets`` (``hf``: hub id or local files,
offline here), and near-duplicate clusters that never straddle two splits."""
import collections
import csv
import json
import os
import random
import string
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from swejepa import corpus as corpus_mod
from swejepa import hfdata
from swejepa import preflight as pf
from swejepa.corpus import CorpusError, build_corpus, manifest, report, write_corpus
from swejepa.neardup import find_clusters, shingle_hashes
from swejepa.settings import CorpusSettings, NearDupSettings, Settings

ROOT = Path(__file__).resolve().parents[1]


def cs(**kw) -> CorpusSettings:
    """Corpus settings from keywords (nested sections as mappings)."""
    return CorpusSettings.from_dict(kw)


def write(root: Path, files: dict[str, str | bytes]):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())


def written(res, cfg, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    write_corpus(res, cfg, 0, out / "files.jsonl", out / "manifest.json", out / "skipped.csv", out / "report.json",
                 out / "near_duplicates.csv")
    with open(out / "near_duplicates.csv", encoding="utf-8", newline="") as fh:
        nd = list(csv.DictReader(fh))
    with open(out / "skipped.csv", encoding="utf-8", newline="") as fh:
        skipped = list(csv.DictReader(fh))
    return {"report": json.loads((out / "report.json").read_text()),
            "manifest": json.loads((out / "manifest.json").read_text()),
            "files": [json.loads(x) for x in (out / "files.jsonl").read_text().splitlines()],
            "near_duplicates": nd, "skipped": skipped}


def assert_clusters_within_one_split(rows: list[dict], files: list[dict] | None = None):
    by = collections.defaultdict(set)
    for r in rows:
        by[r["cluster_id"]].add(r["split"])
    straddling = {c: s for c, s in by.items() if len(s) > 1}
    assert not straddling, straddling
    if files is not None:  # the csv's split is the file's split
        split = {f["file_id"]: f["split"] for f in files}
        assert all(split[int(r["file_id"])] == r["split"] for r in rows if int(r["file_id"]) >= 0)


# ----------------------------------------------------------------------------- near-duplicates

def ident(rng, n=8):
    return rng.choice(string.ascii_lowercase) + "".join(rng.choice(string.ascii_lowercase + "_") for _ in range(n))


def module_text(rng, n_funcs=10) -> str:
    """A module of random functions (random identifiers and numbers: unrelated modules
    share almost no 5-token shingle)."""
    out = []
    for _ in range(n_funcs):
        args = [ident(rng) for _ in range(3)]
        out.append(f"def {ident(rng)}({', '.join(args)}):")
        for _ in range(6):
            out.append(f"    {ident(rng)} = {rng.choice(args)} * {rng.randint(0, 999)} + {ident(rng)}({rng.choice(args)})")
        out.append(f"    return {args[0]}\n")
    return "\n".join(out) + "\n"


def near_copy(text: str, rng) -> str:
    """The text with one identifier renamed once and one line appended (a `# Copied from`
    block with a rename)."""
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    lines[i] = lines[i].replace("=", "= renamed_thing +", 1)
    return "\n".join(lines) + f"\n# Copied from elsewhere\nVERSION = {rng.randint(0, 99)}\n"


@pytest.fixture(scope="module")
def near_dup_tree(tmp_path_factory):
    """40 packages with 2 unrelated modules each, and 6 modules copied (nearly) into 3
    packages each."""
    rng = random.Random(18)
    root = tmp_path_factory.mktemp("neardup")
    pkgs = [f"pkg{i:02d}" for i in range(40)]
    files = {f"{p}/own{j}.py": module_text(rng) for p in pkgs for j in range(2)}
    clusters = []
    for c in range(6):
        base = module_text(rng)
        members = rng.sample(pkgs, 3)
        for k, p in enumerate(members):
            files[f"{p}/shared{c}.py"] = base if k == 0 else near_copy(base, rng)
        clusters.append(sorted(f"{p}/shared{c}.py" for p in members))
    write(root, files)
    return root, clusters


def test_shingles_and_minhash_estimate_jaccard():
    rng = random.Random(0)
    a = module_text(rng)
    b = near_copy(a, rng)
    sa, sb = set(shingle_hashes(a, 5).tolist()), set(shingle_hashes(b, 5).tolist())
    exact = len(sa & sb) / len(sa | sb)
    assert 0.85 < exact < 1
    cl = find_clusters([a, b, module_text(rng), "", "x"], NearDupSettings(), seed=0)
    assert cl.members == [[0, 1]] and cl.n_hashed == 4  # "" has no token
    assert abs(cl.jaccard[0][1] - exact) < 0.1
    # seeded: the same signatures in every run; shingles hash the same in every process
    assert find_clusters([a, b], NearDupSettings(), seed=0).jaccard == find_clusters([a, b], NearDupSettings(),
                                                                                    seed=0).jaccard
    assert shingle_hashes("def f(x): return x", 2).tolist() == shingle_hashes("def  f ( x ) :return x", 2).tolist()


def test_near_duplicates_never_straddle_splits(near_dup_tree, tmp_path):
    root, clusters = near_dup_tree
    off = build_corpus(cs(source="dir", path=str(root), near_duplicates={"action": "off"}), 0)
    split_off = {f["path"]: f["split"] for f in off.files}
    straddled_off = [c for c in clusters if len({split_off[p] for p in c}) > 1]
    assert straddled_off, "the fixture must make package-only splits straddle a cluster"

    cfg = cs(source="dir", path=str(root))
    res = build_corpus(cfg, 0)
    out = written(res, cfg, tmp_path / "group")
    rows, files = out["near_duplicates"], out["files"]
    # exactly the planted clusters, every file kept
    got = sorted(sorted(r["path"] for r in rows if r["cluster_id"] == c) for c in {r["cluster_id"] for r in rows})
    assert got == sorted(clusters)
    assert len(files) == 40 * 2 + 6 * 3 and not out["skipped"]
    assert all(float(r["jaccard"]) >= 0.8 for r in rows)
    assert {r["cluster_size"] for r in rows} == {"3"} and {r["n_packages"] for r in rows} == {"3"}
    assert_clusters_within_one_split(rows, files)
    # splits stay by package, and held-out splits are not empty
    split_of = {}
    assert all(split_of.setdefault(f["package"], f["split"]) == f["split"] for f in files)
    assert {"train", "val", "test"} <= {f["split"] for f in files}
    nd = out["report"]["near_duplicates"]
    assert nd["n_clusters"] == 6 and nd["n_cross_package_clusters"] == 6 and nd["n_splits_straddled"] == 0
    assert nd["n_split_units"] < nd["n_packages"] == 40
    # deterministic
    again = build_corpus(cfg, 0)
    assert [f["split"] for f in again.files] == [f["split"] for f in res.files]
    assert again.near_duplicate_rows == res.near_duplicate_rows


def test_drop_keeps_one_file_per_cluster(near_dup_tree, tmp_path):
    root, clusters = near_dup_tree
    cfg = cs(source="dir", path=str(root), near_duplicates={"action": "drop"})
    out = written(build_corpus(cfg, 0), cfg, tmp_path / "drop")
    dropped = {r["path"]: r for r in out["skipped"] if r["reason"] == "near_duplicate"}
    assert sorted(dropped) == sorted(p for c in clusters for p in c[1:])
    assert all("Jaccard" in r["detail"] for r in dropped.values())
    rep = out["report"]
    assert rep["n_files"] == 40 * 2 + 6 and rep["n_files"] + rep["n_skipped"] == rep["walk"]["n_py_paths"]
    assert [r["file_id"] for r in out["near_duplicates"] if r["path"] in dropped] == ["-1"] * 12
    assert {r["split"] for r in out["near_duplicates"] if r["path"] in dropped} == {"dropped"}


def test_stdlib_default_splits_do_not_change():
    """The stdlib has near-duplicate clusters (encodings/cp*.py, mac_*.py), all inside
    one package: clustering moves no file, the default corpus is what it was."""
    group = build_corpus(cs(), 0)
    off = build_corpus(cs(near_duplicates={"action": "off"}), 0)
    assert group.files == off.files
    assert manifest(group, cs(), 0) == manifest(off, cs(), 0)
    nd = report(group)["near_duplicates"]
    assert nd["n_clusters"] > 0 and nd["n_cross_package_clusters"] == 0


# ----------------------------------------------------------------------------- site-packages

def fake_site(root: Path) -> Path:
    """A site directory with three distributions (one the project itself), a path two
    distributions list, a test directory, a missing file, an unlisted file."""
    site = root / "site-packages"

    def dist(name, version, files: dict[str, str], listed_only=()):
        info = site / f"{name}-{version}.dist-info"
        write(site, files)
        write(info, {"METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"})
        rec = [f"{p},," for p in [*files, *listed_only]] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
        (info / "RECORD").write_text("\n".join(rec) + "\n")

    dist("alpha", "1.0", {"alpha/__init__.py": "", "alpha/core.py": "def f(x):\n    return x\n",
                          "alpha/tests/test_core.py": "def test_f():\n    pass\n", "alpha/data.txt": "x"},
         listed_only=["alpha/gone.py"])
    dist("Beta_Pkg", "2.5", {"beta/__init__.py": "X = 1\n", "beta/mod.py": "def g():\n    return 2\n"},
         listed_only=["alpha/core.py"])
    dist("swejepa", "0.1.0", {"__editable___swejepa_finder.py": "import sys\n"})
    write(site, {"stray.py": "y = 2\n"})
    return site


def test_site_packages_source_accounts_for_every_listed_path(tmp_path, monkeypatch):
    site = fake_site(tmp_path)
    monkeypatch.setattr(corpus_mod, "site_dirs", lambda: [str(site)])
    cfg = cs(name="sp", source="site-packages")
    out = written(build_corpus(cfg, 0), cfg, tmp_path / "out")
    kept = {f["path"]: f for f in out["files"]}
    reasons = {r["path"]: r["reason"] for r in out["skipped"]}
    assert sorted(kept) == ["alpha/core.py", "beta/__init__.py", "beta/mod.py"]
    assert reasons == {"alpha/__init__.py": "empty", "alpha/tests/test_core.py": "excluded_test_dir",
                       "alpha/gone.py": "missing", "__editable___swejepa_finder.py": "excluded_distribution"}
    # the package is the distribution, the source names its version
    assert kept["beta/mod.py"]["package"] == "Beta_Pkg" and kept["beta/mod.py"]["source"] == "site-packages:Beta_Pkg==2.5"
    assert kept["alpha/core.py"]["package"] == "alpha"  # listed by Beta_Pkg too: one candidate, of the first
    rep = out["report"]
    w = rep["walk"]
    assert rep["n_files"] + rep["n_skipped"] == rep["n_candidates"] == w["n_py_paths"] == 7
    assert w["n_py_listed"] == w["n_py_paths"] + w["n_listed_twice"] and w["n_listed_twice"] == 1
    assert w["excluded_distributions"] == ["swejepa==0.1.0"]
    assert w["n_unlisted_py"] == 1 and w["unlisted_py_examples"] == ["stray.py"]
    dists = {d["name"]: d for d in out["manifest"]["distributions"]}
    assert dists["Beta_Pkg"]["version"] == "2.5" and dists["Beta_Pkg"]["n_kept"] == 2
    assert dists["alpha"] == {"name": "alpha", "version": "1.0", "location": os.path.realpath(site),
                              "n_py_listed": 4, "n_kept": 1, "n_skipped": 3}
    # test_dirs: keep keeps the test file
    keep = build_corpus(cs(source="site-packages", test_dirs="keep"), 0)
    assert "alpha/tests/test_core.py" in {f["path"] for f in keep.files}


@pytest.fixture(scope="module")
def real_site_packages(tmp_path_factory):
    cfg = cs(name="site_packages", source="site-packages")
    t0 = time.perf_counter()
    res = build_corpus(cfg, 0)
    seconds = time.perf_counter() - t0
    out = written(res, cfg, tmp_path_factory.mktemp("site-packages"))
    print(f"\nsite-packages corpus: {out['report']['n_files']} files, {out['report']['n_bytes'] / 1e6:.0f} MB kept, "
          f"built in {seconds:.0f} s; near-duplicates {out['report']['near_duplicates']}")
    return out, seconds


@pytest.mark.slow
def test_real_site_packages_corpus(real_site_packages):
    import importlib.metadata as md

    out, seconds = real_site_packages
    rep, man = out["report"], out["manifest"]
    assert rep["n_files"] >= 8000, rep
    assert rep["n_files"] + rep["n_skipped"] == rep["n_candidates"] == rep["walk"]["n_py_paths"]
    assert rep["skipped_by_reason"]["excluded_test_dir"] > 0
    packages = {f["package"] for f in out["files"]}
    assert "swejepa" not in packages and len(packages) >= 20
    assert {"numpy", "torch"} <= packages
    dists = {d["name"]: d for d in man["distributions"]}
    assert dists["numpy"]["version"] == md.version("numpy")
    assert sum(d["n_kept"] for d in man["distributions"]) == rep["n_files"]
    # near-duplicate clusters never cross splits; every file has one split per package
    assert_clusters_within_one_split(out["near_duplicates"], out["files"])
    assert rep["near_duplicates"]["n_clusters"] > 0 and rep["near_duplicates"]["n_splits_straddled"] == 0
    split_of = {}
    assert all(split_of.setdefault(f["package"], f["split"]) == f["split"] for f in out["files"])
    assert seconds < 600
    # deterministic: a second listing of the source gives the same candidates, skips and
    # packages, and they are this build's
    listing = [(rf.path, rf.package, rf.skip) for rf in corpus_mod.iter_site_packages()]
    assert listing == [(rf.path, rf.package, rf.skip) for rf in corpus_mod.iter_site_packages()]
    assert sorted(p for p, _, _ in listing) == sorted([f["path"] for f in out["files"]] +
                                                      [r["path"] for r in out["skipped"]])
    kept_pkg = {f["path"]: f["package"] for f in out["files"]}
    assert all(kept_pkg[p] == pk for p, pk, _ in listing if p in kept_pkg)


# ----------------------------------------------------------------------------- hf (offline)

def stack_rows(n_repos=12, per_repo=3, fork_of: dict | None = None):
    """Records with The Stack's columns; repository r's files are near-copies of
    repository fork_of[r]'s."""
    rng = random.Random(7)
    texts = {}
    rows = []
    for r in range(n_repos):
        for f in range(per_repo):
            src = fork_of.get(r) if fork_of else None
            text = near_copy(texts[(src, f)], rng) if src is not None else module_text(rng, 4)
            texts[(r, f)] = text
            rows.append({"hexsha": f"{r:02d}{f:02d}", "size": len(text), "ext": "py", "lang": "Python",
                         "max_stars_repo_path": f"src/pkg/mod{f}.py", "max_stars_repo_name": f"owner{r}/repo{r}",
                         "max_stars_repo_licenses": ["MIT"] if r % 2 else ["Apache-2.0", "BSD-3-Clause"],
                         "max_stars_count": r, "content": text})
    rows.append({**rows[0], "hexsha": "t", "max_stars_repo_path": "tests/test_mod.py",
                 "content": "def test_x():\n    assert True\n"})
    return rows


def write_parquet(rows, path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_hf_local_parquet_splits_by_repository(tmp_path):
    rows = stack_rows(fork_of={5: 2, 9: 2})
    pq_path = write_parquet(rows, tmp_path / "stack" / "data" / "python" / "train-00000-of-00001.parquet")
    cfg = cs(name="stack", source="hf", path=str(tmp_path / "stack"), data_dir="data/python")
    out = written(build_corpus(cfg, 0), cfg, tmp_path / "out")
    files, rep, man = out["files"], out["report"], out["manifest"]
    assert len(files) == 36 and [r["reason"] for r in out["skipped"]] == ["excluded_test_dir"]
    assert rep["n_candidates"] == rep["walk"]["n_records"] == len(rows)
    f0 = next(f for f in files if f["path"] == "owner0/repo0/src/pkg/mod0.py")
    assert f0["package"] == "owner0/repo0" and f0["licenses"] == ["Apache-2.0", "BSD-3-Clause"]
    assert f0["content"] == rows[0]["content"]
    # repository-level splits: one split per repository, every split used
    split_of = {}
    assert all(split_of.setdefault(f["package"], f["split"]) == f["split"] for f in files)
    assert {f["package"] for f in files} == {f"owner{r}/repo{r}" for r in range(12)}
    assert {"train", "val", "test"} == set(split_of.values())
    # forks: near-duplicate files of three repositories, in one split
    assert rep["near_duplicates"]["n_cross_package_clusters"] == 3
    assert_clusters_within_one_split(out["near_duplicates"], files)
    assert len({split_of[f"owner{r}/repo{r}"] for r in (2, 5, 9)}) == 1
    # licences and the dataset in the manifest
    assert man["licenses"] == {"Apache-2.0": 19, "BSD-3-Clause": 19, "MIT": 18}
    assert all("licenses" in e for e in man["files"])
    assert man["columns"] == {"content": "content", "repo": "max_stars_repo_name", "path": "max_stars_repo_path",
                              "licenses": "max_stars_repo_licenses"}
    assert man["dataset"]["kind"] == "local" and man["dataset"]["builder"] == "parquet"
    # the single file, and max_files reads only that many records
    one = build_corpus(cs(source="hf", path=str(pq_path), max_files=10), 0)
    assert len(one.files) == 10 and one.walk["stopped_at_max_files"]


def test_hf_save_to_disk_and_smol_columns(tmp_path):
    import datasets

    rows = [{"content": f"def f{i}():\n    return {i}\n", "repository_name": f"o/r{i % 4}", "path": f"a/m{i}.py",
             "licenses": ["MIT"], "lang": "Python"} for i in range(20)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:5])}).save_to_disk(str(tmp_path / "dd"))
    res = build_corpus(cs(source="hf", path=str(tmp_path / "ds")), 0)
    assert len(res.files) == 20 and {f["package"] for f in res.files} == {"o/r0", "o/r1", "o/r2", "o/r3"}
    assert res.meta["columns"]["repo"] == "repository_name" and res.meta["dataset"]["save_to_disk"]
    assert len(build_corpus(cs(source="hf", path=str(tmp_path / "dd")), 0).files) == 5
    with pytest.raises(CorpusError, match="corpus.hf_split"):
        build_corpus(cs(source="hf", path=str(tmp_path / "dd"), hf_split="test"), 0)
    with pytest.raises(CorpusError, match="corpus.hf_columns.content"):
        build_corpus(cs(source="hf", path=str(tmp_path / "ds"), hf_columns={"content": ["code"]}), 0)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A local Hugging Face hub cache holding bigcode/the-stack-smol's data/python (as
    `hf download` leaves it), and HF_HUB_OFFLINE set."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "datasets--bigcode--the-stack-smol"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    data = repo / "snapshots" / sha / "data" / "python" / "data.json"
    data.parent.mkdir(parents=True)
    smol = [{"content": r["content"], "repository_name": r["max_stars_repo_name"], "path": r["max_stars_repo_path"],
             "licenses": r["max_stars_repo_licenses"], "lang": "Python"} for r in stack_rows()]
    data.write_text("".join(json.dumps(r) + "\n" for r in smol))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache, sha


def test_hf_hub_id_reads_the_local_cache_offline(hub_cache):
    cache, sha = hub_cache
    cfg = cs(source="hf", path="bigcode/the-stack-smol", data_dir="data/python")
    res = build_corpus(cfg, 0)
    assert len(res.files) == 36 and res.meta["dataset"]["kind"] == "hub" and res.meta["dataset"]["revision"] == sha
    assert res.files[0]["source"] == "hf:bigcode/the-stack-smol/data/python"
    assert hfdata.availability(cfg, probe=True) == (None, "cache")
    missing = cs(source="hf", path="bigcode/not-cached", data_dir="data/python")
    problem, how = hfdata.availability(missing, probe=True)  # offline: no probe, the cache decides
    assert how == "cache" and "corpus.path" in problem and "HF_HUB_OFFLINE" in problem and "hf download" in problem
    with pytest.raises(CorpusError, match="corpus.path"):
        build_corpus(missing, 0)
    wrong_dir = cs(source="hf", path="bigcode/the-stack-smol", data_dir="data/rust")
    assert "not in the local Hugging Face cache" in hfdata.availability(wrong_dir, probe=False)[0]


def test_hf_hub_max_files_fetches_only_the_files_it_reads(tmp_path, monkeypatch):
    """A hub id not in the cache with corpus.max_files (config/cluster.yaml: The Stack):
    the Hub's listing of data_dir is read in name order, and a data file is fetched only
    when the records before it did not reach max_files (a fake Hub: no network)."""
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    rows = stack_rows()  # 37 records
    remote = {f"data/python/data-{k:05d}-of-00003.parquet": write_parquet(rows[k * 13:(k + 1) * 13],
                                                                        tmp_path / "remote" / f"{k}.parquet")
              for k in range(3)}
    fetched = []

    class FakeApi:
        def dataset_info(self, repo_id, revision=None):
            assert repo_id == "bigcode/the-stack-dedup"
            return SimpleNamespace(sha="f" * 40)

        def list_repo_tree(self, repo_id, path_in_repo=None, recursive=False, revision=None, repo_type=None):
            assert path_in_repo == "data/python" and revision == "f" * 40 and repo_type == "dataset"
            return [SimpleNamespace(path=p, size=1) for p in reversed(sorted(remote))] + [
                SimpleNamespace(path="data/python/README.md", size=1), SimpleNamespace(path="data/python/sub")]

    def fake_download(repo_id, filename, repo_type=None, revision=None):
        fetched.append(filename)
        return str(remote[filename])

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    cfg = cs(source="hf", path="bigcode/the-stack-dedup", data_dir="data/python", max_files=20)
    res = build_corpus(cfg, 0)
    assert fetched == sorted(remote)[:2]  # 20 records: the second file holds the last of them
    assert res.walk["n_records"] == 20 and res.walk["stopped_at_max_files"]
    assert len(res.files) + len(res.skipped) == 20
    assert res.meta["dataset"]["fetched_lazily"] and res.meta["dataset"]["revision"] == "f" * 40
    assert res.meta["dataset"]["data_files"] == sorted(remote)
    assert [f["path"] for f in res.files][:2] == ["owner0/repo0/src/pkg/mod0.py", "owner0/repo0/src/pkg/mod1.py"]
    fetched.clear()
    assert len(build_corpus(cs(source="hf", path="bigcode/the-stack-dedup", data_dir="data/python",
                               max_files=13), 0).files) == 13
    assert fetched == sorted(remote)[:1]


# ----------------------------------------------------------------------------- parse-time check

def settings_with(corpus: dict) -> Settings:
    cfg = Settings.load(ROOT / "config.yaml").to_dict()
    cfg["corpus"] = corpus
    return Settings.from_config(cfg)


WF = SimpleNamespace(is_main_process=True)


def test_check_corpus_raises_for_runs_and_warns_for_dry_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    probes = []

    def fake_probe(cfg, timeout):
        probes.append(cfg.path)
        return f"config key 'corpus.path': Hugging Face dataset {cfg.path!r} is gated and this account has not been granted access"

    def not_cached(cfg, download=True):
        raise hfdata.DatasetUnavailable("config key 'corpus.path': not in the local Hugging Face cache")

    monkeypatch.setattr(hfdata, "probe_hub", fake_probe)
    monkeypatch.setattr(hfdata, "locate", not_cached)
    s = settings_with({"source": "hf", "path": "bigcode/the-stack-smol", "data_dir": "data/python"})
    with pytest.raises(pf.PreflightError, match="gated"):
        pf.check_corpus(s, WF, ["snakemake", "-c2"])
    assert probes == ["bigcode/the-stack-smol"]
    notes = []
    assert "cache" in pf.check_corpus(s, WF, ["snakemake", "-n"], warn=notes.append)
    assert probes == ["bigcode/the-stack-smol"] and notes[0].startswith("NOTE")  # a dry run makes no request
    assert pf.check_corpus(s, WF, ["snakemake", "-c2"], built=True) is None          # the corpus exists already
    assert pf.check_corpus(s, SimpleNamespace(is_main_process=False), ["snakemake", "-c2"]) is None
    assert pf.check_corpus(settings_with({"source": "site-packages", "name": "sp"}), WF, ["snakemake", "-c2"]) is None
    monkeypatch.setattr(hfdata, "probe_hub", lambda cfg, timeout: None)                # the Hub says yes
    assert pf.check_corpus(s, WF, ["snakemake", "-c2"]) is None


def test_missing_local_dataset_stops_snakemake_before_any_job(tmp_path):
    import subprocess

    cfg = tmp_path / "hf.yaml"
    cfg.write_text(f"corpus: {{name: stack, source: hf, path: {tmp_path / 'nope.parquet'}}}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "w"),
           "paper_sources", "--configfile", str(ROOT / "config" / "smoke.yaml"), str(cfg), "-c1"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "corpus.path" in out and "nope.parquet" in out, out[-3000:]
    assert not (tmp_path / "w" / "results").exists()
    p = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0 and "NOTE: the corpus dataset" in p.stdout + p.stderr, (p.stdout + p.stderr)[-3000:]
