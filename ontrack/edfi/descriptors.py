"""The editable descriptor mapping: load, merge, validate, and resolve it in DuckDB.

Ed-Fi stores coded values (grade levels, attendance categories, subjects, ...) as ids
into the ``Descriptor`` table, whose ``CodeValue`` text is what a person recognises and
whose ``Namespace`` says who defined it (``uri://ed-fi.org/...`` for the defaults, a state
or district URI for local codes). The importer maps *code values* to contract values
through ``descriptor_map.yaml``; a district overrides or extends it with its own file.

Resolution happens once, in Python, over the (small) Descriptor table: every descriptor
id gets, per mapping section, a status (``mapped``, ``ignored`` = deliberately unused,
``unmapped`` = not in the file) and a target value. The result is the DuckDB table
``edfi_dres`` that the mapping SQL joins on ``(section, descriptor_id)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from ontrack.errors import ConfigError

DEFAULT_MAPPING_FILE = Path(__file__).with_name("descriptor_map.yaml")
MAPPING_VERSION = 1

EXIT_REASONS = ("transfer", "dropout", "graduated", "completed", "other")
STATUSES = ("present", "absent_excused", "absent_unexcused", "tardy", "suspended")
SUBJECTS = ("ela", "math", "science", "social_science", "other")
ACTIONS = (
    "referral",
    "in_school_suspension",
    "out_of_school_suspension",
    "expulsion",
    "other",
)
FLAGS = (
    "english_learner",
    "students_with_disabilities",
    "socioeconomically_disadvantaged",
    "homeless",
    "foster_youth",
)

# Section -> (kind, allowed values or bounds). Kinds: enum, int, bool, text.
SECTIONS: dict[str, tuple[str, Any]] = {
    "GradeLevelDescriptor": ("int", (-3, 13)),
    "ExitWithdrawTypeDescriptor": ("enum", EXIT_REASONS),
    "AttendanceEventCategoryDescriptor": ("enum", STATUSES),
    "AcademicSubjectDescriptor": ("enum", SUBJECTS),
    "DisciplineDescriptor": ("enum", ACTIONS),
    "StudentParticipationCodeDescriptor": ("bool", None),
    "SexDescriptor": ("text", None),
    "RaceDescriptor": ("text", None),
    "OldEthnicityDescriptor": ("text", None),
    "LimitedEnglishProficiencyDescriptor": ("bool", None),
    "ProgramTypeDescriptor": ("enum", FLAGS),
    "StudentCharacteristicDescriptor": ("enum", FLAGS),
    "TermDescriptor": ("text", None),
    "GradingPeriodDescriptor": ("text", None),
    "GradeTypeDescriptor": ("enum", ("progress", "final")),
    "CourseAttemptResultDescriptor": ("text", None),
    "PerformanceLevelDescriptor": ("int", (1, 4)),
    "AssessmentReportingMethodDescriptor": ("int", (1, 99)),
    "CalendarEventDescriptor": ("bool", None),
    "SchoolCategoryDescriptor": ("text", None),
}
_TOP_LEVEL = {
    "mapping_version",
    "replace_defaults",
    "descriptors",
    "assessments",
    "marks",
    "calendar",
    "enrollment",
}
_SETTINGS = {
    "assessments": {"subjects", "subject_keywords"},
    "marks": {"prefer"},
    "calendar": {"weekdays", "non_instructional_dates"},
    "enrollment": {"exit_date_is_last_day"},
}


@dataclass(frozen=True)
class EdfiMapping:
    """A validated descriptor mapping plus the import settings that go with it."""

    descriptors: Mapping[str, Mapping[str, str | None]]
    assessment_subjects: tuple[str, ...] = ("ela", "math")
    subject_keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()
    prefer_letter: bool = True
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    non_instructional_dates: Mapping[str, frozenset[date]] = field(default_factory=dict)
    exit_date_is_last_day: bool = True
    sources: tuple[str, ...] = ()

    def resolve(self, section: str, namespace: str | None, code: str) -> tuple[str, str | None]:
        """(status, target) of one code value: mapped, ignored or unmapped."""
        entries = self.descriptors.get(section, {})
        for key in (_code_key(f"{namespace or ''}#{code}"), _code_key(code)):
            if key in entries:
                target = entries[key]
                return ("ignored", None) if target is None else ("mapped", target)
        return "unmapped", None


def _code_key(code: str) -> str:
    """Match key of a code value (or ``namespace#code``): case and spaces ignored."""
    if "#" in code:
        namespace, _, value = code.rpartition("#")
        return f"{namespace.strip().lower()}#{value.strip().lower()}"
    return code.strip().lower()


def load_mapping(path: Path | None = None) -> EdfiMapping:
    """The default mapping, with ``path`` (a district's file) merged over it.

    Raises
    ------
    ConfigError
        If a file is unreadable, has an unknown section or key, or a value of the
        wrong kind; the message names the file, the entry and what was expected.
    """
    default = _read_yaml(DEFAULT_MAPPING_FILE)
    sources = [str(DEFAULT_MAPPING_FILE)]
    raw = _expanded(default, DEFAULT_MAPPING_FILE)
    if path is not None:
        user = _expanded(_read_yaml(path), path)
        sources = [str(path)] if user.get("replace_defaults") else [*sources, str(path)]
        raw = user if user.get("replace_defaults") else _merge(raw, user)
    return _parse(raw, path or DEFAULT_MAPPING_FILE, tuple(sources))


def _read_yaml(path: Path) -> dict[str, Any]:
    """A mapping file's YAML content (a dict), or ConfigError."""
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"Ed-Fi mapping file {path} cannot be read: {err}.") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"Ed-Fi mapping file {path} is not valid YAML: {err}") from err
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(
            f"Ed-Fi mapping file {path} must be a YAML mapping of sections. "
            f"Got {type(content).__name__} instead."
        )
    unknown = sorted(set(map(str, content)) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(
            f"Ed-Fi mapping file {path}: unknown section {unknown[0]!r}"
            f"{_suggest(unknown[0], _TOP_LEVEL)}. Known: {', '.join(sorted(_TOP_LEVEL))}."
        )
    return content


def _suggest(name: str, known: Any) -> str:
    """A 'did you mean' hint for a misspelled key."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _expanded(content: dict[str, Any], path: Path) -> dict[str, Any]:
    """The file with each descriptor section as {match key: value}, `_ignore` expanded."""
    result = dict(content)
    sections = content.get("descriptors") or {}
    if not isinstance(sections, dict):
        raise ConfigError(f"Ed-Fi mapping file {path}: descriptors must be a mapping.")
    expanded: dict[str, dict[str, Any]] = {}
    for section, entries in sections.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"Ed-Fi mapping file {path}: unknown descriptor section {section!r}"
                f"{_suggest(str(section), SECTIONS)}. Known: {', '.join(SECTIONS)}."
            )
        expanded[section] = _section_entries(section, entries or {}, path)
    result["descriptors"] = expanded
    return result


def _section_entries(section: str, entries: Any, path: Path) -> dict[str, Any]:
    """One section's entries keyed by match key; `_ignore` values map to None."""
    if not isinstance(entries, dict):
        raise ConfigError(f"Ed-Fi mapping file {path}: descriptors.{section} must be a mapping.")
    out: dict[str, Any] = {}
    for code in entries.get("_ignore") or []:
        out[_code_key(str(code))] = None
    for code, value in entries.items():
        if code == "_ignore":
            continue
        if isinstance(code, bool):
            raise ConfigError(
                f"Ed-Fi mapping file {path}: descriptors.{section} has a key that YAML "
                f"read as {code}; quote code values like 'Yes' or 'No'."
            )
        out[_code_key(str(code))] = _checked_value(section, str(code), value, path)
    return out


def _checked_value(section: str, code: str, value: Any, path: Path) -> str | None:
    """A section value validated for its kind and stored as text (None = ignored)."""
    if value is None:
        return None
    kind, allowed = SECTIONS[section]
    where = f"Ed-Fi mapping file {path}: descriptors.{section}[{code!r}]"
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true, false or null. Got {value!r} instead.")
        return "true" if value else "false"
    if kind == "int":
        low, high = allowed
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{where} must be an integer from {low} to {high}, or null. "
                f"Got {value!r} instead."
            )
        return str(value)
    if kind == "enum" and value not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, or null. Got {value!r} instead.")
    if not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where} must be text or null. Got {value!r} instead.")
    return str(value)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged over ``base``: descriptor entries and settings one by one."""
    merged = {key: value for key, value in base.items() if key != "descriptors"}
    descriptors = {s: dict(e) for s, e in base.get("descriptors", {}).items()}
    for section, entries in override.get("descriptors", {}).items():
        descriptors.setdefault(section, {}).update(entries)
    merged["descriptors"] = descriptors
    for key, value in override.items():
        if key in _SETTINGS and isinstance(value, dict):
            merged[key] = {**(base.get(key) or {}), **value}
        elif key != "descriptors":
            merged[key] = value
    return merged


def _parse(raw: dict[str, Any], path: Path, sources: tuple[str, ...]) -> EdfiMapping:
    """Validate the merged settings and build the frozen mapping."""
    version = raw.get("mapping_version", MAPPING_VERSION)
    if version != MAPPING_VERSION:
        raise ConfigError(
            f"Ed-Fi mapping file {path}: mapping_version must be {MAPPING_VERSION}. "
            f"Got {version!r} instead."
        )
    for section, allowed in _SETTINGS.items():
        unknown = sorted(set(raw.get(section) or {}) - allowed)
        if unknown:
            raise ConfigError(
                f"Ed-Fi mapping file {path}: unknown key {section}.{unknown[0]}"
                f"{_suggest(unknown[0], allowed)}. Known: {', '.join(sorted(allowed))}."
            )
    assessments = raw.get("assessments") or {}
    calendar = raw.get("calendar") or {}
    prefer = (raw.get("marks") or {}).get("prefer", "letter")
    if prefer not in ("letter", "numeric"):
        raise ConfigError(
            f"Ed-Fi mapping file {path}: marks.prefer must be letter or numeric. "
            f"Got {prefer!r} instead."
        )
    return EdfiMapping(
        descriptors={s: dict(raw["descriptors"].get(s, {})) for s in SECTIONS},
        assessment_subjects=_subjects(assessments.get("subjects", ["ela", "math"]), path),
        subject_keywords=_keywords(assessments.get("subject_keywords") or {}, path),
        prefer_letter=prefer == "letter",
        weekdays=_weekdays(calendar.get("weekdays", [1, 2, 3, 4, 5]), path),
        non_instructional_dates=_dates(calendar.get("non_instructional_dates") or [], path),
        exit_date_is_last_day=bool(
            (raw.get("enrollment") or {}).get("exit_date_is_last_day", True)
        ),
        sources=sources,
    )


def _subjects(value: Any, path: Path) -> tuple[str, ...]:
    """assessments.subjects: contract subjects to import."""
    if not isinstance(value, list) or any(v not in SUBJECTS for v in value):
        raise ConfigError(
            f"Ed-Fi mapping file {path}: assessments.subjects must be a list drawn from "
            f"{', '.join(SUBJECTS)}. Got {value!r} instead."
        )
    return tuple(value)


def _keywords(value: Any, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """assessments.subject_keywords: subject -> words, in file order."""
    if not isinstance(value, dict) or any(k not in SUBJECTS for k in value):
        raise ConfigError(
            f"Ed-Fi mapping file {path}: assessments.subject_keywords must map subjects "
            f"({', '.join(SUBJECTS)}) to lists of words. Got {value!r} instead."
        )
    return tuple((k, tuple(str(w).lower() for w in (v or []))) for k, v in value.items())


def _weekdays(value: Any, path: Path) -> tuple[int, ...]:
    """calendar.weekdays: ISO day numbers 1-7."""
    if not isinstance(value, list) or not value or any(
        isinstance(v, bool) or v not in range(1, 8) for v in value
    ):
        raise ConfigError(
            f"Ed-Fi mapping file {path}: calendar.weekdays must list ISO day numbers "
            f"1 (Monday) to 7 (Sunday). Got {value!r} instead."
        )
    return tuple(sorted(set(value)))


def _dates(value: Any, path: Path) -> dict[str, frozenset[date]]:
    """calendar.non_instructional_dates as {SchoolId or 'all': dates}."""
    by_school = value if isinstance(value, dict) else {"all": value}
    out: dict[str, frozenset[date]] = {}
    for school, items in by_school.items():
        if not isinstance(items, list):
            raise ConfigError(
                f"Ed-Fi mapping file {path}: calendar.non_instructional_dates[{school!r}] "
                f"must be a list of dates. Got {items!r} instead."
            )
        days: set[date] = set()
        for item in items:
            days |= _date_items(item, path)
        out[str(school)] = frozenset(days)
    return out


def _date_items(item: Any, path: Path) -> set[date]:
    """One date or 'YYYY-MM-DD..YYYY-MM-DD' range, as a set of dates."""
    if isinstance(item, date):
        return {item}
    text = str(item)
    try:
        if ".." in text:
            first, last = (date.fromisoformat(p.strip()) for p in text.split("..", 1))
            return {first + timedelta(days=n) for n in range((last - first).days + 1)}
        return {date.fromisoformat(text.strip())}
    except ValueError as err:
        raise ConfigError(
            f"Ed-Fi mapping file {path}: calendar.non_instructional_dates entries must "
            f"be YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD. Got {text!r} instead."
        ) from err


def create_resolution_table(
    con: duckdb.DuckDBPyConnection, descriptor_relation: str, mapping: EdfiMapping
) -> int:
    """Create ``edfi_dres`` (section, descriptor_id, namespace, code_value, status, target).

    ``descriptor_relation`` is a subquery exposing DescriptorId, Namespace, CodeValue.
    Returns the number of descriptors read.
    """
    rows = con.execute(
        f"SELECT DescriptorId, Namespace, CodeValue FROM {descriptor_relation} "
        "WHERE DescriptorId IS NOT NULL"
    ).fetchall()
    columns: dict[str, list[str | None]] = {
        k: [] for k in ("section", "descriptor_id", "namespace", "code_value", "status", "target")
    }
    for section in SECTIONS:
        for descriptor_id, namespace, code in rows:
            status, target = mapping.resolve(section, namespace, code or "")
            for key, value in zip(
                columns, (section, descriptor_id, namespace, code, status, target), strict=True
            ):
                columns[key].append(value)
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    con.register("edfi_dres_arrow", table)
    con.execute("CREATE OR REPLACE TEMP TABLE edfi_dres AS SELECT * FROM edfi_dres_arrow")
    con.unregister("edfi_dres_arrow")
    return len(rows)
