"""What a model spec (``models/lightgbm.yaml`` or ``modeling.model_spec``) may say.

The spec is checked once, when it is read (:func:`check_spec`): every unknown key, every
value of the wrong type or out of range becomes one line of a :class:`ConfigError`
naming the file, the key, the value and the fix — never a LightGBM error mid-training.
The same tables turn the checked settings into LightGBM's own parameters
(:func:`native_params`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ontrack.errors import ConfigError
from ontrack.modeling.calibration import METHODS

DEFAULT_PARAMS: dict = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 6,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 1,
}
# scikit-learn style names -> LightGBM's own parameter names.
_NATIVE = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "max_depth": "max_depth",
    "min_child_samples": "min_data_in_leaf",
    "subsample": "bagging_fraction",
    "subsample_freq": "bagging_freq",
    "colsample_bytree": "feature_fraction",
    "reg_lambda": "lambda_l2",
    "reg_alpha": "lambda_l1",
    "n_jobs": "num_threads",
}
# Spec keys that are not LightGBM parameters themselves.
_OWN_KEYS = ("n_estimators", "random_state", "monotone")
# Every random stream LightGBM draws from; each is set so no default leaks in.
SEED_PARAMS = (
    "seed",
    "bagging_seed",
    "feature_fraction_seed",
    "data_random_seed",
    "extra_seed",
    "drop_seed",
    "objective_seed",
)
SPEC_KEYS = ("spec_version", "classifier", "early_stopping_rounds", "calibration")


def _whole(low: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(low: float, high: float | None = None, *, open_low: bool = False) -> Callable[[object], bool]:
    def ok(v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            return False
        return (v > low if open_low else v >= low) and (high is None or v <= high)

    return ok


# Each classifier setting: (test, what it must be). Examples come from DEFAULT_PARAMS.
_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "n_estimators": (_whole(1), "a whole number >= 1 (the most boosting rounds)"),
    "learning_rate": (_number(0, 1, open_low=True), "a number above 0 and at most 1"),
    "num_leaves": (_whole(2), "a whole number >= 2 (leaves per tree)"),
    "max_depth": (lambda v: _whole(-1)(v) and v != 0, "a whole number >= 1, or -1 for no limit"),
    "min_child_samples": (_whole(1), "a whole number >= 1 (fewest training rows in a leaf)"),
    "subsample": (_number(0, 1, open_low=True), "a share above 0 and at most 1"),
    "subsample_freq": (_whole(0), "a whole number >= 0 (resample rows every k rounds; 0: never)"),
    "colsample_bytree": (_number(0, 1, open_low=True), "a share above 0 and at most 1"),
    "reg_lambda": (_number(0), "a number >= 0"),
    "reg_alpha": (_number(0), "a number >= 0"),
    "n_jobs": (_whole(1), "a whole number of threads >= 1 (fixed, so a refit is bit-identical)"),
    "random_state": (_whole(0), "a whole number >= 0"),
}
_EXAMPLES = {**DEFAULT_PARAMS, "reg_alpha": 0.0, "random_state": 0}


def _unknown(key: str, where: str, allowed: Sequence[str]) -> str:
    near = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean `{near[0]}`? Rename it" if near else "remove it"
    return (f"{where} keys must be among {', '.join(allowed)}. Got `{key}` instead; "
            f"{hint}.")


def _classifier_problems(classifier: Mapping) -> list[tuple[str, str]]:
    problems = []
    for key, value in classifier.items():
        name = f"classifier.{key}"
        if key == "monotone":
            problems += [(f"{name}{where}", m) for where, m in _monotone_problems(value)]
        elif key not in _RULES:
            problems.append((name, _unknown(str(key), "classifier", sorted([*_RULES, "monotone"]))))
        elif not _RULES[key][0](value):
            problems.append((name, f"{key} must be {_RULES[key][1]}, e.g. {_EXAMPLES[key]}. "
                                   f"Got {value!r} instead."))
    return problems


def _monotone_problems(spec: object) -> list[tuple[str, str]]:
    """(".feature" or "", message) for each bad entry of the ``monotone`` mapping."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        return [("", "monotone must map feature names to +1 (risk never falls as the value rises), "
                f"-1 (never rises) or 0 (free). Got {type(spec).__name__} {spec!r} instead.")]
    return [(f".{k}", f"monotone.{k} must be -1, 0 or +1 (the direction of risk as {k} rises). "
             f"Got {v!r} instead.") for k, v in spec.items() if isinstance(v, bool) or v not in (-1, 0, 1)]


def spec_problems(spec: Mapping) -> list[tuple[str, str]]:
    """Every problem of a parsed spec as (key, "X must be …. Got … instead.")."""
    problems = [(str(k), _unknown(str(k), "model spec", SPEC_KEYS)) for k in spec if k not in SPEC_KEYS]
    if spec.get("spec_version", 1) != 1:
        problems.append(("spec_version", f"spec_version must be 1. Got {spec['spec_version']!r} instead."))
    classifier = spec.get("classifier")
    if not isinstance(classifier, Mapping):
        problems.append(("classifier", "classifier must be a mapping of LightGBM settings "
                         f"(num_leaves: 7, ...). Got {classifier!r} instead."))
    else:
        problems += _classifier_problems(classifier)
    rounds = spec.get("early_stopping_rounds", 50)
    if not _whole(1)(rounds):
        problems.append(("early_stopping_rounds", "early_stopping_rounds must be a whole number "
                         f">= 1, e.g. 50. Got {rounds!r} instead."))
    methods = spec.get("calibration", list(METHODS))
    if (not isinstance(methods, list) or not methods
            or any(m not in METHODS for m in methods) or len(set(methods)) != len(methods)):
        problems.append(("calibration", "calibration must be a list of distinct methods among "
                         f"{', '.join(METHODS)}, e.g. [{', '.join(METHODS)}]. Got {methods!r} instead."))
    return problems


def check_spec(spec: object, path: Path | str) -> dict:
    """``spec`` as read from ``path``, or a ConfigError listing every problem in it."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"model spec {path} must be a mapping with a `classifier:` section. "
                          f"Got {type(spec).__name__} instead.")
    problems = spec_problems(spec)
    if problems:
        lines = "\n".join(f"  {key}: {message}" for key, message in problems)
        raise ConfigError(f"model spec {path} is invalid:\n{lines}\nFix these keys in {path} "
                          "(the shipped models/lightgbm.yaml sets every key, each with a comment).")
    return dict(spec)


def monotone_directions(spec: object) -> dict[str, int]:
    """The spec's ``monotone`` mapping checked: feature name -> -1, 0 or +1."""
    problems = _monotone_problems(spec)
    if problems:
        raise ValueError(" ".join(message for _, message in problems))
    return {str(k): int(v) for k, v in (spec or {}).items()}


def native_params(params: dict, seed: int, features: Sequence[str] | None = None) -> dict:
    """LightGBM ``train`` parameters from the spec's scikit-learn style names.

    ``features`` (the matrix's columns, in order) turns the spec's ``monotone`` mapping
    into ``monotone_constraints``; names not in the matrix are ignored.
    """
    unknown = sorted(set(params) - set(_NATIVE) - set(_OWN_KEYS))
    if unknown:
        raise ValueError(
            f"classifier parameters must be among {', '.join(sorted(_NATIVE))}, "
            f"{', '.join(_OWN_KEYS)}. Got {', '.join(unknown)} instead."
        )
    threads = params.get("n_jobs", 1)
    if not _whole(1)(threads):
        raise ValueError(
            "n_jobs must be a whole number of threads >= 1 (a fixed count keeps "
            f"training reproducible). Got {threads!r} instead."
        )
    native = {_NATIVE[k]: v for k, v in params.items() if k in _NATIVE}
    native["num_threads"] = threads
    directions = monotone_directions(params.get("monotone"))
    if features is not None and any(directions.get(f, 0) for f in features):
        native["monotone_constraints"] = [directions.get(f, 0) for f in features]
    return {
        "objective": "binary",
        "verbosity": -1,
        **{name: int(seed) for name in SEED_PARAMS},
        "deterministic": True,
        "force_row_wise": True,
        **native,
    }
