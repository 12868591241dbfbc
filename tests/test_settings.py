"""Typed settings: the schema rejects bad configs naming the key before any job runs, the
schema is the one generated from the settings classes, and every default is defined once."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from swejepa.settings import (SCHEMA_PATH, ConfigError, Section, Settings, StudentSettings, merge_files,
                              schema_yaml)

ROOT = Path(__file__).resolve().parents[1]


def default():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_and_overlays_validate():
    Settings.load(ROOT / "config.yaml")
    for overlay in sorted((ROOT / "config").glob("*.yaml")):
        Settings.load(ROOT / "config.yaml", overlay)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c.update(bogus=1), "bogus"),
    (lambda c: c.setdefault("corpus", {}).update(max_files=-3), "corpus.max_files"),
    (lambda c: c.setdefault("corpus", {}).update(source="ftp"), "corpus.source"),
    (lambda c: c.setdefault("corpus", {}).update(val_fraction="lots"), "corpus.val_fraction"),
    (lambda c: c.setdefault("grid", {}).update(pools=["median"]), "grid.pools[0]"),
    (lambda c: c.setdefault("masks", {}).update(strategies=[]), "masks.strategies"),
    (lambda c: c.setdefault("corpus", {}).update(typo_key=True), "corpus.typo_key"),
    (lambda c: c.setdefault("corpus", {}).update(val_fraction=0.5, test_fraction=0.45), "corpus.val_fraction"),
    (lambda c: c.setdefault("corpus", {}).update(source="dir", path=None), "corpus.path"),
    (lambda c: c["teachers"][2].update(like="minilm"), "teachers[2].like"),
    (lambda c: c.setdefault("phase2", {}).update(teachers=["nope"]), "phase2.teachers"),
    (lambda c: c.setdefault("phase2", {}).setdefault("compute", {}).update(teachers=["randinit"]),
     "phase2.compute.teachers[0]"),
    (lambda c: c.setdefault("decoder", {}).setdefault("humaneval", {}).update(ks=[1, 50]), "decoder.humaneval.ks"),
    (lambda c: c.setdefault("student", {}).update(teachers=["ghost"]), "student.teachers"),
])
def test_bad_values_are_rejected_with_the_key(mutate, key):
    cfg = default()
    mutate(cfg)
    with pytest.raises(ConfigError) as ei:
        Settings.from_config(cfg)
    assert f"'{key}'" in str(ei.value)


def test_every_problem_is_reported_at_once():
    cfg = default()
    cfg["corpus"] = {"max_files": -1, "source": "ftp"}
    cfg["bogus"] = 2
    msg = str(pytest.raises(ConfigError, Settings.from_config, cfg).value)
    assert all(k in msg for k in ("corpus.max_files", "corpus.source", "bogus"))


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus:\n  max_files: -1\n")
    p = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                        "-n", "--configfile", str(bad)], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert "corpus.max_files" in p.stdout + p.stderr
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------- one source of truth

def test_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == schema_yaml(), \
        "swejepa/schemas/config.schema.yaml is stale: run `python -m swejepa.settings schema --write`"


def test_schema_defaults_equal_the_settings_defaults():
    """The schema's `default:` entries are exactly the dataclass defaults (walked from both)."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    found = {}

    def walk(node, key):
        for name, sub in (node.get("properties") or {}).items():
            k = f"{key}.{name}" if key else name
            if "default" in sub and not (sub.get("type") == "object"):
                found[k] = sub["default"]
            if sub.get("type") == "object":
                walk(sub, k)
    walk(schema, "")
    expected = {k: v for k, v in Settings.defaults().items()}
    assert found == expected


def test_no_yaml_outside_the_generated_schema_defines_defaults():
    for p in list(ROOT.glob("swejepa/**/*.yaml")) + list(ROOT.glob("config/*.yaml")) + [ROOT / "config.yaml"]:
        if p == SCHEMA_PATH:
            continue
        assert not re.search(r"^\s*default:", p.read_text(), re.M), f"{p} defines schema defaults"


def test_config_yaml_states_only_choices_that_differ_from_the_defaults():
    defaults = Settings.defaults()

    def flat(d, p=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{p}{k}.")
            else:
                yield f"{p}{k}", v
    cfg = default()
    restated = [k for k, v in flat({k: v for k, v in cfg.items() if k != "teachers"})
                if k in defaults and defaults[k] == v]
    for i, t in enumerate(cfg["teachers"]):
        spec = Settings.from_config(cfg).teachers[i]
        blank = type(spec).from_dict({"name": t["name"], "source": t["source"]})
        restated += [f"teachers[{i}].{k}" for k, v in t.items()
                     if k not in ("name", "source") and getattr(blank, k) == getattr(spec, k)]
    assert not restated, f"config.yaml restates defaults of swejepa/settings.py: {restated}"


DEFAULT_NAMES = re.compile(r"(^|_)DEFAULTS?(_|$)")


def _py_files():
    return [p for p in (ROOT / "swejepa").rglob("*.py") if p.name != "settings.py"]


def test_no_defaults_tables_outside_the_settings_module():
    offenders = []
    for p in _py_files():
        for node in ast.walk(ast.parse(p.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and DEFAULT_NAMES.search(t.id) and \
                        isinstance(node.value, (ast.Dict, ast.List, ast.Tuple, ast.Call)) and \
                        not (isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") in
                             {c.__name__ for c in _sections()}):
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} {t.id}")
    assert not offenders, f"defaults tables outside swejepa/settings.py: {offenders}"


def _sections():
    out, todo = set(), [Settings]
    while todo:
        c = todo.pop()
        out.add(c)
        for f in c.__dataclass_fields__.values():
            for t in re.findall(r"[A-Z]\w+", str(f.type)):
                sub = getattr(sys.modules["swejepa.settings"], t, None)
                if isinstance(sub, type) and issubclass(sub, Section) and sub not in out:
                    todo.append(sub)
    return out


def _field_defaults() -> dict[str, set]:
    """{field name: {default values}} over every settings class (scalars only)."""
    out: dict[str, set] = {}
    for cls in _sections():
        for name, f in cls.__dataclass_fields__.items():
            d = f.default
            if isinstance(d, (int, float, str)) and not isinstance(d, bool):
                out.setdefault(name, set()).add(d)
    return out


# Writers of synthetic test latents: their shape arguments describe the fixture, not a setting.
SYNTHETIC_WRITERS = {"write_synthetic", "write_synthetic_latents"}


def test_no_function_repeats_a_settings_default():
    """A keyword default in the library whose parameter is a settings field and whose value
    is that field's default is a second definition of the default (pass the setting)."""
    fields = _field_defaults()
    offenders = []
    for p in _py_files():
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = node.args
            pairs = list(zip(a.args[len(a.args) - len(a.defaults):], a.defaults)) + \
                [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
            for arg, d in pairs:
                if isinstance(d, ast.Constant) and arg.arg in fields and d.value in fields[arg.arg] \
                        and not isinstance(d.value, bool) and arg.arg not in ("seed", "device") \
                        and node.name not in SYNTHETIC_WRITERS:
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}({arg.arg}={d.value!r})")
    assert not offenders, "library functions repeating settings defaults:\n  " + "\n  ".join(offenders)


def test_rules_and_scripts_read_settings_not_raw_config():
    """No `.get("key", default)` on the config in rules or scripts: a missing key takes the
    settings default, never a second literal."""
    pat = re.compile(r"config(\[[^\]]+\]|\.get\([^)]*\))*\.get\(\s*['\"]\w+['\"]\s*,")
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in list(ROOT.glob("rules/*.smk")) +
            list(ROOT.glob("scripts/**/*.py")) + [ROOT / "Snakefile"] for m in pat.finditer(p.read_text())]
    assert not hits, hits


def test_defaults_are_the_dataclass_defaults_and_round_trip():
    s = Settings.load(ROOT / "config.yaml")
    assert Settings.from_dict(s.to_dict()) == s
    assert StudentSettings().train.max_steps == Settings.defaults()["student.train.max_steps"]
    # the recipe view resets only job fields
    changed = s.student.with_overrides({"eval": {"val_regions": 7}, "runtime": 3})
    assert changed.recipe() == s.student.recipe()
    assert s.student.with_overrides({"train": {"lr": 0.5}}).recipe() != s.student.recipe()


def test_show_prints_the_resolved_configuration():
    p = subprocess.run([sys.executable, "-m", "swejepa.settings", "show", "--configfile",
                        str(ROOT / "config" / "smoke.yaml")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    shown = yaml.safe_load(p.stdout)
    assert shown == Settings.load(ROOT / "config.yaml", ROOT / "config" / "smoke.yaml").to_dict()
    assert shown["student"]["model"]["d_model"] == 64  # smoke overlay over the default


def test_merge_is_snakemake_like():
    m = merge_files(ROOT / "config.yaml", ROOT / "config" / "smoke.yaml")
    assert m["corpus"]["name"] == "smoke"
    assert [t["name"] for t in m["teachers"]] == ["tinyfim", "minilm", "randinit"]  # a list is replaced whole
