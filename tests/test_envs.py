"""Conda env per rule, pinned like pyproject.toml; the SLURM profile's shape.

- every rule that runs something has ``conda:`` naming an existing ``envs/*.yaml``,
  a ``log:``, a ``benchmark:`` and ``resources:`` mem_mb + runtime (read from the
  workflow itself, loaded with Snakemake's API in a subprocess);
- every Python package in an env is pinned exactly as in pyproject.toml, every
  pyproject dependency (except the head-node tools) is in some env, conda packages are
  pinned;
- the SLURM profiles (slurm/config.yaml and the CI overlay slurm/ci/config.yaml) ask
  for GPUs on the same rules, requeue, retry and signal before the time limit.

The checkers are plain functions, tested on the repository and on broken inputs
(a rule without conda, a drifted pin) so that they are known to fail when they should.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
# Run on the submitting/head node only, never inside a rule's env.
HEAD_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
REQUIRED_ENVS = {"workflow.yaml", "torch.yaml", "latex.yaml"}
# The GPU stages (teacher training, extraction, student training, decoder training and
# evaluation): the rules the SLURM profile gives GPUs.
GPU_RULES = set(yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())["set-resources"])
CORE_GPU_RULES = {"teacher_train", "extract", "student_train", "decoder_train"}

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(req: str) -> tuple[str, str]:
    """'numpy==2.4.6' -> ('numpy', '==2.4.6'); spaces dropped from the spec."""
    m = _REQ.match(req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    return norm(m.group(1)), re.sub(r"\s+", "", m.group(3))


def pyproject_pins(path: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    import tomllib

    data = tomllib.loads(path.read_text())
    return dict(parse_requirement(r) for r in data["project"]["dependencies"])


def env_problems(env: dict, pins: dict[str, str], label: str = "env") -> list[str]:
    """Everything wrong with one parsed conda env file (empty list: fine)."""
    out = []
    if not isinstance(env, dict) or not isinstance(env.get("dependencies"), list):
        return [f"{label}: no dependencies list"]
    if "conda-forge" not in (env.get("channels") or []):
        out.append(f"{label}: channels must include conda-forge")
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip = dep.get("pip")
            if set(dep) != {"pip"} or not isinstance(pip, list):
                out.append(f"{label}: unexpected entry {dep!r}")
                continue
            for req in pip:
                name, spec = parse_requirement(str(req))
                if name not in pins:
                    out.append(f"{label}: pip package {name} is not a dependency in pyproject.toml")
                elif spec != pins[name]:
                    out.append(f"{label}: pip {name}{spec} != pyproject.toml {name}{pins[name]}")
            continue
        # conda match spec: name=version[=build] (or name==version)
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==?)\s*([^=\s]+)", str(dep))
        if not m:
            out.append(f"{label}: conda package {dep!r} is not pinned (name=version)")
            continue
        name, version = norm(m.group(1)), m.group(3)
        if name in pins and pins[name] != f"=={version}":
            out.append(f"{label}: conda {name}={version} != pyproject.toml {name}{pins[name]}")
    return out


def env_pip_names(env: dict) -> set[str]:
    names = set()
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            names |= {parse_requirement(str(r))[0] for r in dep.get("pip", [])}
        else:
            m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", str(dep))
            if m:
                names.add(norm(m.group(1)))
    return names


def rule_problems(rules: list[dict], envs_dir: Path = ENVS) -> list[str]:
    """rules: [{name, norun, basedir, conda_env, log: [..], benchmark, resources: {..}}]."""
    out = []
    for r in rules:
        if r["norun"]:  # aggregation rules (input only) run nothing
            continue
        name = r["name"]
        env = r.get("conda_env")
        if not env or not isinstance(env, str):
            out.append(f"rule {name}: no conda: directive (or not a file path)")
        else:
            path = (Path(r["basedir"]) / env).resolve()
            if path.parent != envs_dir.resolve() or path.suffix not in (".yaml", ".yml"):
                out.append(f"rule {name}: conda env {env} is not a file in envs/")
            elif not path.is_file():
                out.append(f"rule {name}: conda env {env} does not exist")
        if not r.get("log"):
            out.append(f"rule {name}: no log:")
        if not r.get("benchmark"):
            out.append(f"rule {name}: no benchmark:")
        for key in ("mem_mb", "runtime"):
            if key not in (r.get("resources") or {}):
                out.append(f"rule {name}: no resources: {key}")
    return out


_DUMP_RULES = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, OutputSettings, ResourceSettings,
                                      StorageSettings)
snakefile, workdir, configfiles = sys.argv[1], sys.argv[2], sys.argv[3:]
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
        storage_settings=StorageSettings(),
        snakefile=Path(snakefile),
        workdir=Path(workdir),
    )._workflow
    rules = [dict(
        name=r.name, norun=bool(r.norun), basedir=str(r.basedir),
        conda_env=r.conda_env if isinstance(r.conda_env, str) else (None if r.conda_env is None else repr(r.conda_env)),
        log=[str(f) for f in r.log], benchmark=str(r.benchmark) if r.benchmark else None,
        resources=sorted(k for k in r.resources if not k.startswith("_")),
        local=r.name in wf._localrules,
    ) for r in wf.rules]
print("RULES-JSON:" + json.dumps(rules))
"""


def load_rules(tmp: Path, configfiles=()) -> list[dict]:
    """The workflow's rules as loaded by Snakemake (in a subprocess: the API chdirs)."""
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP_RULES, str(ROOT / "Snakefile"), str(tmp), *map(str, configfiles)],
        capture_output=True, text=True, timeout=180, cwd=tmp,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RULES-JSON:")]
    assert proc.returncode == 0 and lines, f"loading the workflow failed:\n{proc.stdout}\n{proc.stderr}"
    rules = json.loads(lines[-1][len("RULES-JSON:"):])
    for r in rules:
        r["resources"] = {k: True for k in r["resources"]}
    return rules


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rules")
    return load_rules(tmp, [ROOT / "config" / "smoke.yaml"])


# ------------------------------------------------------------------ the repository


def test_envs_exist_and_pins_match_pyproject():
    pins = pyproject_pins()
    files = {p.name for p in ENVS.glob("*.y*ml")}
    assert REQUIRED_ENVS <= files, f"missing envs: {REQUIRED_ENVS - files}"
    problems, covered = [], set()
    for p in sorted(ENVS.glob("*.y*ml")):
        env = yaml.safe_load(p.read_text())
        problems += env_problems(env, pins, f"envs/{p.name}")
        covered |= env_pip_names(env)
    assert not problems, "\n".join(problems)
    missing = set(pins) - HEAD_ONLY - covered
    assert not missing, f"pyproject dependencies in no envs/*.yaml: {sorted(missing)}"


def test_installed_versions_match_pyproject():
    """What pip installed here (the non-conda path) is what the envs pin."""
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for name, spec in pyproject_pins().items():
        if not spec.startswith("=="):
            continue
        try:
            have = version(name).split("+")[0]  # torch 2.13.0+cpu is torch 2.13.0
        except PackageNotFoundError:
            continue
        if have != spec[2:]:
            wrong.append(f"{name}: installed {have}, pinned {spec}")
    assert not wrong, "\n".join(wrong)


def test_latex_env_has_tex():
    env = yaml.safe_load((ENVS / "latex.yaml").read_text())
    names = env_pip_names(env)
    assert {"texlive-core", "latexmk"} <= names


def test_torch_env_has_torch_workflow_env_does_not():
    torch_env = env_pip_names(yaml.safe_load((ENVS / "torch.yaml").read_text()))
    wf_env = env_pip_names(yaml.safe_load((ENVS / "workflow.yaml").read_text()))
    assert {"torch", "transformers", "tokenizers"} <= torch_env
    assert "torch" not in wf_env


def test_every_rule_has_conda_log_benchmark_resources(workflow_rules):
    names = {r["name"] for r in workflow_rules}
    assert {"corpus", "mask", "properties"} <= names, names
    problems = rule_problems(workflow_rules)
    assert not problems, "\n".join(problems)


def test_gpu_rules_use_the_torch_env(workflow_rules):
    for r in workflow_rules:
        if r["name"] in GPU_RULES:
            assert Path(r["conda_env"]).name == "torch.yaml", r


def _profile(path):
    return yaml.safe_load((ROOT / path).read_text())


def test_slurm_profile_shape():
    prof = _profile("slurm/config.yaml")
    ci = _profile("slurm/ci/config.yaml")
    assert prof["executor"] == "slurm"
    assert prof.get("slurm-requeue") is True
    assert int(prof.get("retries", 0)) >= 1
    for key in ("runtime", "mem_mb"):
        assert key in prof["default-resources"], key
    assert set(prof["set-threads"]) == set(ci["set-threads"]) == GPU_RULES
    for p, label in ((prof, "slurm"), (ci, "slurm/ci")):
        sr = p["set-resources"]
        assert set(sr) == GPU_RULES >= CORE_GPU_RULES, f"{label}: GPU rules {sorted(sr)}"
        for rule, res in sr.items():
            assert int(res["cpus_per_task"]) >= 1 and int(res["mem_mb"]) > 0, (label, rule)
            m = re.search(r"--signal=(B:)?(TERM|USR1)@(\d+)", res.get("slurm_extra", ""))
            assert m, f"{label}: {rule} has no --signal=...@seconds in slurm_extra"
            assert m.group(1) is None, f"{label}: {rule}: B: signals reach only the batch shell"
    # GPU count and runtime come from the config (the scripts derive their time budget
    # and DDP world size from the same values): the cluster profile must not override them.
    for rule, res in prof["set-resources"].items():
        assert not {"gpu", "gres", "runtime"} & set(res), f"slurm: {rule} overrides {set(res)}"
    # The CI overlay gives the smoke jobs (gpu: 0 in the smoke config) a fake GPU.
    for rule, res in ci["set-resources"].items():
        assert int(res["gpu"]) >= 1 and res["gpu_model"] == "fake", rule
        signal_s = int(re.search(r"@(\d+)", res["slurm_extra"]).group(1))
        assert signal_s < int(res["runtime"]) * 60, rule
    # CI overlay: no accounting daemon there
    assert ci["slurm-status-command"] == "squeue"
    assert int(ci["slurm-init-seconds-before-status-checks"]) * 3 < 600  # MinJobAge in slurm_up.sh
    assert ci["default-resources"]["slurm_partition"] == "debug"


def test_gpu_rules_and_profile_agree(workflow_rules):
    """Rules that request GPUs are the profile's GPU rules, and they take their GPU count
    and runtime from the config (resources gpu + runtime)."""
    names = {r["name"] for r in workflow_rules}
    for r in workflow_rules:
        if {"gpu", "gres", "gpu_model"} & set(r["resources"]):
            assert r["name"] in GPU_RULES, f"rule {r['name']} asks for GPUs but is not in slurm/config.yaml"
        if r["name"] in GPU_RULES:
            assert {"gpu", "runtime"} <= set(r["resources"]), f"rule {r['name']}: resources gpu/runtime"
    present = CORE_GPU_RULES & names
    assert {"teacher_train", "extract"} <= present, present


def test_profile_resolves_from_the_repository_root():
    """`snakemake --profile slurm` in the repo root finds ./slurm (a path relative to cwd)."""
    from snakemake.cli import get_profile_dir

    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        found = get_profile_dir("slurm")
    finally:
        os.chdir(cwd)
    assert found is not None
    assert Path(found[1]).resolve() == (ROOT / "slurm" / "config.yaml").resolve()


# ------------------------------------------------------------------ the checkers fail


def test_checker_catches_drifted_pin():
    pins = {"numpy": "==2.4.6", "pyyaml": ">=6"}
    good = {"channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": ["numpy==2.4.6", "pyyaml>=6"]}]}
    assert env_problems(good, pins) == []
    drift = {"channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": ["numpy==2.4.5"]}]}
    assert any("numpy" in p for p in env_problems(drift, pins))
    unpinned = {"channels": ["conda-forge"], "dependencies": ["python", {"pip": ["numpy==2.4.6"]}]}
    assert any("not pinned" in p for p in env_problems(unpinned, pins))
    conda_drift = {"channels": ["conda-forge"], "dependencies": ["numpy=2.3.0"]}
    assert any("numpy" in p for p in env_problems(conda_drift, pins))
    stranger = {"channels": ["conda-forge"], "dependencies": [{"pip": ["requests==2.0"]}]}
    assert any("requests" in p for p in env_problems(stranger, pins))


def test_checker_catches_rule_without_conda(tmp_path):
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "workflow.yaml").write_text("dependencies: []\n")
    base = dict(norun=False, basedir=str(tmp_path / "rules"), log=["x.log"], benchmark="x.tsv",
                resources={"mem_mb": True, "runtime": True})
    ok = dict(base, name="ok", conda_env="../envs/workflow.yaml")
    assert rule_problems([ok], envs) == []
    assert rule_problems([dict(base, name="agg", norun=True, conda_env=None, log=[], benchmark=None)], envs) == []
    bad = [
        dict(base, name="noconda", conda_env=None),
        dict(base, name="missing", conda_env="../envs/nope.yaml"),
        dict(base, name="outside", conda_env="../other/workflow.yaml"),
        dict(base, name="nolog", conda_env="../envs/workflow.yaml", log=[]),
        dict(base, name="nobench", conda_env="../envs/workflow.yaml", benchmark=None),
        dict(base, name="nomem", conda_env="../envs/workflow.yaml", resources={"runtime": True}),
    ]
    problems = rule_problems(bad, envs)
    for name in ("noconda", "missing", "outside", "nolog", "nobench", "nomem"):
        assert any(f"rule {name}:" in p for p in problems), (name, problems)


def test_checker_on_a_real_workflow_without_conda(tmp_path):
    """End to end through Snakemake's loader: a rule without conda: is reported."""
    (tmp_path / "rules").mkdir()
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        "rule bare:\n    output: 'x.txt'\n    log: 'x.log'\n    benchmark: 'x.tsv'\n"
        "    resources: mem_mb=100, runtime=1\n    shell: 'touch {output}'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP_RULES, str(snakefile), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    line = [l for l in proc.stdout.splitlines() if l.startswith("RULES-JSON:")][-1]
    rules = json.loads(line[len("RULES-JSON:"):])
    for r in rules:
        r["resources"] = {k: True for k in r["resources"]}
    problems = rule_problems(rules)
    assert any("rule bare: no conda" in p for p in problems), problems
