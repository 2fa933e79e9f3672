"""The district config: one YAML file parsed into frozen, typed models.

Every default below is the documented default (see docs/config.md, generated from these
models by ``ontrack.config.describe_defaults``). Unknown keys are errors that name the
key's path, so a misspelled threshold can never fall back silently to a default.

One data directory may hold several districts (CONTRACT §1): ``rules`` holds the default
district rules and ``districts`` overrides any of them per ``district_id``.

This module holds the root :class:`Config` and its loading. The district rules are in
:mod:`ontrack.district_rules`, the model declarations in :mod:`ontrack.model_settings`,
the settings of the pipeline's stages in :mod:`ontrack.pipeline_settings` and
:mod:`ontrack.support_settings`; all are re-exported here, so
``from ontrack.config import ScoringConfig`` keeps working.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from ontrack.district_rules import (
    DistrictRules,
    MarkScale,
    OnTrackRule,
    ReadinessRule,
    parse_month_day,
)
from ontrack.errors import ConfigError
from ontrack.model_settings import (
    GateConfig,
    LabelPolicy,
    ModelSpec,
    SplitSpec,
    Treatment,
    default_models,
)
from ontrack.pipeline_settings import (
    MIN_GROUP_SIZE_FLOOR,
    EngineConfig,
    FairnessBounds,
    FeatureConfig,
    ModelingConfig,
    ReportingConfig,
    ScheduleConfig,
    ScoringConfig,
    TrackingConfig,
)
from ontrack.resources import ResourcesConfig
from ontrack.settings_base import _Frozen
from ontrack.storage import is_url, read_text, shown
from ontrack.support_settings import FollowupConfig, ImpactConfig, ImpactCutoff

__all__ = [
    "CONFIG_VERSION",
    "MIN_GROUP_SIZE_FLOOR",
    "Config",
    "DistrictRules",
    "EngineConfig",
    "FairnessBounds",
    "FeatureConfig",
    "FollowupConfig",
    "ImpactConfig",
    "ImpactCutoff",
    "GateConfig",
    "LabelPolicy",
    "MarkScale",
    "ModelingConfig",
    "ModelSpec",
    "OnTrackRule",
    "ReadinessRule",
    "ReportingConfig",
    "ScheduleConfig",
    "ScoringConfig",
    "SplitSpec",
    "TrackingConfig",
    "Treatment",
    "config_from_dict",
    "describe_defaults",
    "load_config",
    "parse_yaml",
    "parse_month_day",
]

CONFIG_VERSION = 1


class Config(_Frozen):
    """A district's ontrack configuration (frozen; the user's file is never changed)."""

    config_version: Literal[1] = Field(
        CONFIG_VERSION, description="Version of this config format."
    )
    rules: DistrictRules = Field(default_factory=DistrictRules)
    districts: dict[str, DistrictRules] = Field(
        default_factory=dict,
        description="Per-district overrides of `rules`, keyed by district_id.",
    )
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    label: LabelPolicy = Field(default_factory=LabelPolicy)
    split: SplitSpec = Field(default_factory=SplitSpec)
    modeling: ModelingConfig = Field(default_factory=ModelingConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    models: dict[str, ModelSpec] = Field(
        default_factory=default_models,
        description="The early-warning models, each declared once (name -> grade, labels, "
        "baseline rule, feature set); default grade8 and grade9 (CONTRACT §3). A "
        "config's models are added to the defaults (a default's keys can be changed); "
        "`name: null` drops a default.",
    )
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    followup: FollowupConfig = Field(default_factory=FollowupConfig)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        if not value:
            raise ValueError("models must declare at least one model. Got none instead.")
        for name in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
                raise ValueError(
                    "a model name must be a letter then letters, digits, _ or - (it names "
                    f"folders and registered models). Got {name!r} instead."
                )
        return value

    def gate_for(self, name: str) -> GateConfig:
        """The gate thresholds of model ``name``: its own, else the ``gate:`` section.

        Examples
        --------
        >>> config_from_dict({"models": {"grade9": {"gate": {"max_ece": 0.03}}}}).gate_for("grade9").max_ece
        0.03
        >>> Config().gate_for("grade8").max_ece
        0.05
        """
        return self.model_spec(name).gate or self.gate

    def model_spec(self, name: str) -> ModelSpec:
        """The declaration of model ``name``; a ConfigError naming the choices if none.

        Examples
        --------
        >>> Config().model_spec("grade8").baseline
        'readiness'
        >>> Config().model_spec("grade11")
        Traceback (most recent call last):
        ...
        ontrack.errors.ConfigError: model must be one of grade8, grade9. Got 'grade11' instead.
        """
        if name not in self.models:
            raise ConfigError(
                f"model must be one of {', '.join(self.models)}. Got {name!r} instead."
            )
        return self.models[name]

    def rules_for(self, district_id: str | None) -> DistrictRules:
        """The rules of one district: its overrides, else the default rules."""
        if district_id is not None and district_id in self.districts:
            return self.districts[district_id]
        return self.rules

    @property
    def config_hash(self) -> str:
        """Short SHA-256 of the resolved config, stamped on every output.

        ``engine`` and ``resources`` (DuckDB threads, memory, spill folder, task sizes)
        are left out: they change how fast a run is, never what it writes, so outputs
        stay byte-identical across thread counts and memory limits.
        """
        settings = self.model_dump(mode="json", exclude={"engine", "resources"})
        canonical = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _merge_models(declared: dict[str, Any]) -> dict[str, Any]:
    """A config's ``models:`` added to the defaults: a default named again is updated
    key by key, a new name is added, and ``name: null`` drops a default."""
    merged: dict[str, Any] = {n: s.model_dump() for n, s in default_models().items()}
    for name, spec in declared.items():
        if spec is None:
            merged.pop(str(name), None)
        elif isinstance(spec, dict) and isinstance(merged.get(str(name)), dict):
            merged[str(name)] = _merge(merged[str(name)], spec)
        else:
            merged[str(name)] = spec
    return merged


def _known_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    current: Any = model
    if model is Config and path[:1] == ("districts",) and len(path) >= 2:
        current, path = DistrictRules, path[2:]
    for part in path:
        field = getattr(current, "model_fields", {}).get(part)
        annotation = field.annotation if field is not None else None
        current = annotation if isinstance(annotation, type) else None
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"config {source} is invalid:"]
    for item in err.errors():
        loc = tuple(item["loc"])
        path = ".".join(str(p) for p in loc)
        if item["type"] == "extra_forbidden":
            known = _known_keys(Config, loc[:-1])
            hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
            suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
            allowed = f" Allowed keys here: {', '.join(sorted(known))}." if known else ""
            lines.append(f"  {path}: unknown key.{suggestion}{allowed}")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            if "Got " not in msg:
                msg = f"{msg}. Got {item.get('input')!r} instead."
            lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def config_from_dict(raw: dict[str, Any] | None, source: str = "<dict>") -> Config:
    """Build a :class:`Config` from plain data, merging district overrides on rules."""
    raw = dict(raw or {})
    version = raw.get("config_version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise ConfigError(
            f"config {source}: config_version must be {CONFIG_VERSION}. "
            f"Got {version!r} instead."
        )
    districts = raw.get("districts") or {}
    if not isinstance(districts, dict):
        raise ConfigError(
            f"config {source}: districts must be a mapping of district_id to rules. "
            f"Got {type(districts).__name__} instead."
        )
    base_rules = raw.get("rules") or {}
    if isinstance(base_rules, dict):
        raw["districts"] = {
            str(k): _merge(base_rules, v or {}) if isinstance(v, dict) else v
            for k, v in districts.items()
        }
    if isinstance(raw.get("models"), dict):
        raw["models"] = _merge_models(raw["models"])
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


# libyaml's parser when PyYAML was built with it (about ten times faster: config, model
# specs and the Ed-Fi maps are read by every command), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOO_DEEP = "lists or mappings are nested too deeply to read"


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` (libyaml's when available), with nesting too deep to read
    reported as a YAML error (Python runs out of stack on it, libyaml stops at its own
    limit), so every caller's message for bad YAML covers it.

    >>> parse_yaml("a: " + "[" * 5000 + "]" * 5000)
    Traceback (most recent call last):
    ...
    yaml.error.YAMLError: lists or mappings are nested too deeply to read
    """
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except RecursionError:
        raise yaml.YAMLError(_TOO_DEEP) from None
    except yaml.YAMLError as err:  # libyaml stops deep nesting itself, in its own words
        if "maximum nesting depth" in str(err):
            raise yaml.YAMLError(_TOO_DEEP) from None
        raise


def load_config(path: Path | str | None = None) -> Config:
    """Read a district YAML; ``None`` gives the documented defaults.

    Examples
    --------
    >>> load_config().rules.readiness.gpa_min
    2.5
    >>> config_from_dict({"reporting": {"min_group_size": 5}})
    Traceback (most recent call last):
    ...
    ontrack.errors.ConfigError: config <dict> is invalid:
      reporting.min_group_size: min_group_size must be at least 10. Got 5 instead.
    """
    if path is None:
        return Config()
    if is_url(path):  # s3://, gs://, ... read with fsspec (ontrack.storage)
        text, path = read_text(str(path)), shown(str(path))
    else:
        path, text = Path(path), None
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist.")
    try:
        raw = parse_yaml(Path(path).read_text(encoding="utf-8-sig") if text is None else text)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path} must be a mapping of keys to values. "
            f"Got {type(raw).__name__} instead."
        )
    return config_from_dict(raw, source=str(path))


def describe_defaults() -> str:
    """Markdown table of every config key, its default and meaning (docs/config.md)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            path = f"{prefix}{name}"
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{path}.")
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, dict):  # models: name -> its declaration, as in YAML
                default = {k: v.model_dump(exclude_defaults=True) if isinstance(v, BaseModel)
                           else v for k, v in default.items()}
            shown = json.dumps(default, default=str)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            lines.append(f"| `{path}` | `{shown}` | {field.description or ''} |")

    walk(Config, "")
    return "\n".join(lines)
