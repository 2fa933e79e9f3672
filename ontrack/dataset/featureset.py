"""The feature registry: ``@feature``, ``@source``, :class:`FeatureSet`.

A feature is a function whose name is the column, whose docstring is its data
dictionary entry, and which returns one SQL aggregate expression evaluated per
(student_id, as_of_date) over a source (see ``ontrack.dataset.featurize``). A source is a point-
in-time view or a named ``@source`` query over them; ``@source(frame=True)`` marks a
Python function ``(con, cohort, config) -> DataFrame``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ontrack.config import Config
from ontrack.errors import ConfigError

GROUPS: tuple[str, ...] = (
    "attendance",
    "coursework",
    "behavior",
    "assessment",
    "enrollment",
    "history",
    "indicators",
)
# The point-in-time views a feature may name directly as its source.
VIEW_SOURCES: tuple[str, ...] = (
    "attendance",
    "attendance_summary",
    "course_marks",
    "discipline",
    "assessments",
    "enrollments",
    "student_years",
)
PROTECTED_COLUMNS: tuple[str, ...] = ("gender", "race_ethnicity")
# Which values of a feature go with more risk (None: no direction, never shown).
RISK_WHEN: tuple[str | None, ...] = ("low", "high", None)
PROGRAM_FLAG_WARNING = (
    "features.include_program_flags is on: English-learner, disability and poverty "
    "flags are model inputs. Check the model's subgroup metrics before using its "
    "scores."
)


def _describe(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func)
    if not doc:
        raise ConfigError(
            f"feature {func.__name__!r} must have a docstring (it is the data "
            "dictionary entry). Got none instead."
        )
    return " ".join(doc.split())


@dataclass(frozen=True)
class SourceSpec:
    """A relation features aggregate over: SQL on point-in-time views, or a frame."""

    name: str
    func: Callable[..., Any]
    tables: tuple[str, ...]
    description: str
    frame: bool = False

    def sql(self) -> str:
        """The source's SQL (not for frame sources)."""
        return str(self.func())


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its column name, SQL aggregate, group and dictionary metadata."""

    name: str
    func: Callable[[], str]
    group: str
    source: str
    description: str
    reason: str
    malleable: bool
    when_no_records: float | None = None
    program_flag: bool = False
    valid_range: tuple[float, float] | None = None
    grades: tuple[int, ...] | None = None
    module: str = ""
    risk_when: str | None = None
    healthy: float | None = None

    def sql(self) -> str:
        """The aggregate expression, evaluated per (student_id, as_of_date)."""
        return str(self.func())

    @property
    def roster_role(self) -> str:
        """How a roster may show it: ``reason`` (malleable, with a direction),
        ``context`` (not malleable, with a direction) or ``never``."""
        if self.program_flag or self.risk_when is None:
            return "never"
        return "reason" if self.malleable else "context"


# long: a dozen lines of code; the rest is the docstring explaining all eleven keys.
def feature(
    *,
    group: str,
    source: str,
    reason: str,
    malleable: bool,
    when_no_records: float | None = None,
    program_flag: bool = False,
    valid_range: tuple[float, float] | None = None,
    grades: tuple[int, ...] | None = None,
    risk_when: str | None = None,
    healthy: float | None = None,
) -> Callable[[Callable[[], str]], FeatureSpec]:
    """Declare a feature: ``name`` = the function's, description = its docstring.

    Parameters
    ----------
    group : one of ``GROUPS``; groups are also reason-code families.
    source : a point-in-time view (``VIEW_SOURCES``) or a ``@source`` name.
    reason : plain-language template for rosters, formatted with ``value`` (the
        student's value) and ``size`` (its absolute value); it states the risk side
        ("Marks fell {size:.1f} grade points"): it is shown only on that side.
    malleable : whether staff can change its *current* value (this year's attendance
        yes; last year's test, age, moves no). Only malleable features are reasons;
        the others can only be context.
    when_no_records : value of a cohort member with no rows in the source (None: NaN).
    program_flag : an EL/disability/poverty flag, used only when the config allows.
    valid_range : inclusive bounds every non-missing value must fall within.
    grades : the cohort grades the feature describes (None: every grade); a matrix for
        a cohort of other grades leaves it out.
    risk_when : ``"low"`` or ``"high"``: which values go with more risk; None (no
        direction, e.g. a count of marks) means never shown on a roster.
    healthy : values at or beyond this on the healthy side never explain risk, nor
        does a value whose text reads the same as this one's: the healthy extreme of
        a level (1.0 for an attendance rate, 0 for a count), or 0 for a change (a
        rise in marks never explains risk). None: every known value is on the risk
        side (e.g. days since the last incident, known only after one).

    Examples
    --------
    >>> @feature(group="behavior", source="discipline", reason="{value:.0f} incidents",
    ...          malleable=True, when_no_records=0.0)
    ... def incidents_so_far() -> str:
    ...     \"\"\"Discipline incidents this school year up to the as-of date.\"\"\"
    ...     return "count(*) FILTER (WHERE year_offset = 0)"
    >>> incidents_so_far.name, incidents_so_far.group
    ('incidents_so_far', 'behavior')
    >>> incidents_so_far.description
    'Discipline incidents this school year up to the as-of date.'
    """
    _check_declaration(group, risk_when, healthy)
    options = {
        "group": group, "source": source, "reason": reason, "malleable": malleable,
        "when_no_records": when_no_records, "program_flag": program_flag,
        "valid_range": valid_range, "grades": grades, "risk_when": risk_when,
        "healthy": None if healthy is None else float(healthy),
    }

    def wrap(func: Callable[[], str]) -> FeatureSpec:
        return FeatureSpec(name=func.__name__, func=func, description=_describe(func),
                           module=func.__module__, **options)

    return wrap


def _check_declaration(group: str, risk_when: str | None, healthy: float | None) -> None:
    """A ConfigError for a feature declaration ``feature`` cannot honour.

    >>> _check_declaration("mood", None, None)
    Traceback (most recent call last):
    ...
    ontrack.errors.ConfigError: feature group must be one of attendance, coursework, behavior, assessment, enrollment, history, indicators. Got 'mood' instead.
    """
    if group not in GROUPS:
        raise ConfigError(
            f"feature group must be one of {', '.join(GROUPS)}. Got {group!r} instead."
        )
    if risk_when not in RISK_WHEN:
        raise ConfigError(
            "feature risk_when must be 'low', 'high' or None. "
            f"Got {risk_when!r} instead."
        )
    if healthy is not None and risk_when is None:
        raise ConfigError(
            f"feature healthy must come with risk_when. Got healthy={healthy!r} and "
            "risk_when=None instead."
        )


def source(
    *, tables: Sequence[str], frame: bool = False
) -> Callable[[Callable[..., Any]], SourceSpec]:
    """Declare a source: ``name`` = the function's; it returns SQL (or a DataFrame)."""

    def wrap(func: Callable[..., Any]) -> SourceSpec:
        return SourceSpec(func.__name__, func, tuple(tables), _describe(func), frame)

    return wrap


@dataclass(frozen=True)
class FeatureSet:
    """An ordered set of features and the sources they read."""

    features: tuple[FeatureSpec, ...]
    sources: dict[str, SourceSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(
                f"feature names must be unique. Got {', '.join(repeated)} twice."
            )
        for spec in self.features:
            if spec.source not in self.sources and spec.source not in VIEW_SOURCES:
                raise ConfigError(
                    f"feature {spec.name!r}: source must be a point-in-time view "
                    f"({', '.join(VIEW_SOURCES)}) or a declared @source "
                    f"({', '.join(self.sources) or 'none'}). "
                    f"Got {spec.source!r} instead."
                )
            if spec.name in PROTECTED_COLUMNS:
                raise ConfigError(f"feature {spec.name!r} is a protected attribute.")

    @classmethod
    def from_modules(cls, *modules: ModuleType) -> FeatureSet:
        """Every ``@feature`` and ``@source`` of ``modules``, in source order."""
        features: list[FeatureSpec] = []
        sources: dict[str, SourceSpec] = {}
        for module in modules:
            for value in vars(module).values():
                if isinstance(value, SourceSpec):
                    sources[value.name] = value
            found = [
                v for v in vars(module).values()
                if isinstance(v, FeatureSpec) and v.module == module.__name__
            ]
            found.sort(key=lambda spec: inspect.getsourcelines(spec.func)[1])
            features += found
        return cls(tuple(features), sources)

    def __iter__(self) -> Iterator[FeatureSpec]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return [f.name for f in self.features]

    def select(
        self, *, groups: Iterable[str] | None = None, names: Iterable[str] | None = None
    ) -> FeatureSet:
        """The subset in the given groups and/or with the given names."""
        keep = list(self.features)
        if groups is not None:
            wanted = set(groups)
            keep = [f for f in keep if f.group in wanted]
        if names is not None:
            wanted_names = set(names)
            unknown = sorted(wanted_names - set(self.names))
            if unknown:
                raise ConfigError(
                    f"feature names must be among the feature set. Got unknown "
                    f"{', '.join(unknown)} instead."
                )
            keep = [f for f in keep if f.name in wanted_names]
        return FeatureSet(tuple(keep), self.sources)

    def for_config(self, config: Config) -> FeatureSet:
        """Drop program-flag features unless the config allows them (then warn)."""
        flags = [f for f in self.features if f.program_flag]
        if not flags:
            return self
        if config.features.include_program_flags:
            warnings.warn(PROGRAM_FLAG_WARNING, UserWarning, stacklevel=2)
            return self
        kept = tuple(f for f in self.features if not f.program_flag)
        return FeatureSet(kept, self.sources)

    def for_grades(self, grades: Iterable[int]) -> FeatureSet:
        """Drop features declared for other grades only (e.g. readiness for grade 9)."""
        present = {int(g) for g in grades}
        keep = tuple(
            f for f in self.features if f.grades is None or present & set(f.grades)
        )
        return FeatureSet(keep, self.sources)

    def tables_of(self, spec: FeatureSpec) -> tuple[str, ...]:
        """The input tables behind a feature's source."""
        if spec.source in self.sources:
            return self.sources[spec.source].tables
        return (spec.source,)


def load_feature_set(spec: str = "ontrack.features:FEATURES") -> FeatureSet:
    """Import a ``module:attribute`` feature set (default: the repository's
    ``features/`` folder, installed as ``ontrack.features``). A district's own module is
    also looked for in the current directory."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        top = Path.cwd() / module_name.split(".")[0]
        if (top.exists() or top.with_suffix(".py").exists()) and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ConfigError(
                f"feature set must be an importable 'module:attribute'. Got {spec!r}, "
                "whose module is not found (from the current directory either)."
            ) from None
    value = getattr(module, attr or "FEATURES", None)
    if not isinstance(value, FeatureSet):
        raise ConfigError(
            f"feature set {spec!r} must be a FeatureSet. "
            f"Got {type(value).__name__} instead."
        )
    return value
