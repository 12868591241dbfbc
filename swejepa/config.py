"""Configuration loading and schema validation.

The schema lives in ``swejepa/schemas/config.schema.yaml``. ``validate_config``
reports *every* violation with the dotted config key it concerns, then lets
``snakemake.utils.validate`` fill in schema defaults.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, unknown, mistyped or impossible."""


def load_schema() -> dict:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    parts = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "<top level>"


def config_errors(config: dict, schema: dict | None = None) -> list[str]:
    """All schema violations as ``"key: message"`` strings (empty if valid)."""
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key = _key(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
            for name in extra:
                full = f"{key}.{name}" if err.absolute_path else name
                out.append(f"config key '{full}': unknown key (allowed here: {', '.join(allowed)})")
            continue
        out.append(f"config key '{key}': {err.message}")
    return out


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` in place; raise :class:`ConfigError` naming each bad key.

    Defaults from the schema are filled in (through ``snakemake.utils.validate``
    when Snakemake is importable). Returns the config for convenience.
    """
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    errors = config_errors(config, schema)
    errors += semantic_errors(config)
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    try:
        from snakemake.utils import validate as sm_validate
    except ImportError:  # pragma: no cover - snakemake is a hard dependency
        return config
    sm_validate(config, str(schema_path), set_default=True)
    return config


def semantic_errors(config: dict) -> list[str]:
    """Constraints JSON-schema cannot express (cross-field checks)."""
    out = []
    corpus = config.get("corpus", {}) or {}
    if isinstance(corpus, dict):
        vf, tf = corpus.get("val_fraction", 0.1), corpus.get("test_fraction", 0.1)
        if isinstance(vf, (int, float)) and isinstance(tf, (int, float)) and vf + tf >= 0.9:
            out.append("config key 'corpus.val_fraction' + 'corpus.test_fraction': must leave at least 10% for training")
        if corpus.get("source") in ("dir", "jsonl", "hf") and not corpus.get("path"):
            out.append(f"config key 'corpus.path': required when corpus.source is '{corpus.get('source')}'")
    teachers = config.get("teachers")
    if isinstance(teachers, list):
        names = [t.get("name") for t in teachers if isinstance(t, dict)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            out.append(f"config key 'teachers': duplicate teacher names {dup}")
        for i, t in enumerate(teachers):
            if isinstance(t, dict) and t.get("source") == "random":
                like = t.get("like")
                if like not in names:
                    out.append(f"config key 'teachers[{i}].like': '{like}' names no teacher in 'teachers'")
    return out


def load_config(*paths: str | Path, overrides: dict | None = None) -> dict:
    """Load and deep-merge YAML configs the way Snakemake does, then validate."""
    config: dict[str, Any] = {}
    for p in paths:
        with open(p) as fh:
            update(config, yaml.safe_load(fh) or {})
    if overrides:
        update(config, overrides)
    return validate_config(config)


def with_defaults(defaults: dict, cfg: dict | None) -> dict:
    """A copy of ``defaults`` with ``cfg`` laid over it, one level deep: a section given
    as a mapping updates the default section key by key; anything else replaces it."""
    out = copy.deepcopy(defaults)
    for k, v in (cfg or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def update(base: dict, other: dict) -> dict:
    """Recursive dict merge (lists and scalars are replaced), like Snakemake's."""
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base
