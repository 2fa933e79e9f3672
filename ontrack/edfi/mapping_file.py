"""The editable mapping file: load, merge over the default, validate.

``descriptor_map.yaml`` (next to this module) maps the default Ed-Fi descriptors; a
district passes its own file (``--mapping FILE``), merged over the default entry by
entry, or used alone with ``replace_defaults: true``. Every value is checked for its
section's kind, and a misspelled section or key is an error that suggests the closest
name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from ontrack.config import parse_yaml
from ontrack.edfi.descriptors import SECTIONS, SUBJECTS, code_key, lookup
from ontrack.errors import ConfigError

DEFAULT_MAPPING_FILE = Path(__file__).with_name("descriptor_map.yaml")
MAPPING_VERSION = 1
_TOP_LEVEL = frozenset({
    "mapping_version",
    "replace_defaults",
    "descriptors",
    "assessments",
    "marks",
    "calendar",
    "enrollment",
})
_SETTINGS = {
    "assessments": {"subjects", "subject_keywords"},
    "marks": {"prefer", "reconcile_future_transcripts"},
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
    reconcile_future_transcripts: bool = True
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    non_instructional_dates: Mapping[str, frozenset[date]] = field(default_factory=dict)
    exit_date_is_last_day: bool = True
    sources: tuple[str, ...] = ()

    def resolve(
        self, section: str, namespace: str | None, code: str
    ) -> tuple[str, str | None]:
        """(status, target) of one code value: mapped, ignored or unmapped."""
        return lookup(self.descriptors.get(section, {}), namespace, code)


def load_mapping(path: Path | None = None) -> EdfiMapping:
    """The default mapping, with ``path`` (a district's file) merged over it.

    Raises
    ------
    ConfigError
        If a file is unreadable, has an unknown section or key, or a value of the
        wrong kind; the message names the file, the entry and what was expected.

    Examples
    --------
    >>> load_mapping().resolve("GradeLevelDescriptor", None, "Ninth grade")
    ('mapped', '9')
    """
    sources = [str(DEFAULT_MAPPING_FILE)]
    raw = _expanded(_read_yaml(DEFAULT_MAPPING_FILE), DEFAULT_MAPPING_FILE)
    if path is not None:
        user = _expanded(_read_yaml(path), path)
        if user.get("replace_defaults"):
            raw, sources = user, [str(path)]
        else:
            raw, sources = _merge(raw, user), [*sources, str(path)]
    return _parse(raw, path or DEFAULT_MAPPING_FILE, tuple(sources))


def _fail(path: Path, message: str) -> ConfigError:
    """A ConfigError prefixed with the mapping file."""
    return ConfigError(f"Ed-Fi mapping file {path}: {message}")


def _suggest(name: str, known: Any) -> str:
    """A 'did you mean' hint for a misspelled key."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_yaml(path: Path) -> dict[str, Any]:
    """A mapping file's YAML content (a dict), or ConfigError."""
    try:
        content = parse_yaml(path.read_text(encoding="utf-8-sig"))
    except OSError as err:
        raise _fail(path, f"cannot be read ({err}).") from err
    except yaml.YAMLError as err:
        raise _fail(path, f"not valid YAML: {err}") from err
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise _fail(
            path,
            "must be a YAML mapping of sections. "
            f"Got {type(content).__name__} instead.",
        )
    unknown = sorted(set(map(str, content)) - _TOP_LEVEL)
    if unknown:
        raise _fail(
            path,
            f"unknown section {unknown[0]!r}{_suggest(unknown[0], _TOP_LEVEL)}. "
            f"Known: {', '.join(sorted(_TOP_LEVEL))}.",
        )
    return content


def _expanded(content: dict[str, Any], path: Path) -> dict[str, Any]:
    """The file with each descriptor section as {match key: value}, `_ignore` done."""
    result = dict(content)
    sections = content.get("descriptors") or {}
    if not isinstance(sections, dict):
        raise _fail(path, "descriptors must be a mapping of descriptor sections.")
    expanded: dict[str, dict[str, Any]] = {}
    for section, entries in sections.items():
        if section not in SECTIONS:
            raise _fail(
                path,
                f"unknown descriptor section {section!r}"
                f"{_suggest(str(section), SECTIONS)}. Known: {', '.join(SECTIONS)}.",
            )
        expanded[section] = _section_entries(section, entries or {}, path)
    result["descriptors"] = expanded
    return result


def _section_entries(section: str, entries: Any, path: Path) -> dict[str, Any]:
    """One section's entries keyed by match key; `_ignore` values map to None."""
    if not isinstance(entries, dict):
        raise _fail(path, f"descriptors.{section} must be a mapping.")
    out: dict[str, Any] = {}
    for code in entries.get("_ignore") or []:
        out[code_key(str(code))] = None
    for code, value in entries.items():
        if code == "_ignore":
            continue
        if isinstance(code, bool):
            raise _fail(
                path,
                f"descriptors.{section} has a key that YAML read as {code}; quote "
                "code values like 'Yes' or 'No'.",
            )
        out[code_key(str(code))] = _checked_value(section, str(code), value, path)
    return out


def _checked_value(section: str, code: str, value: Any, path: Path) -> str | None:
    """A section value validated for its kind and stored as text (None = ignored)."""
    if value is None:
        return None
    kind, allowed = SECTIONS[section]
    where = f"descriptors.{section}[{code!r}]"
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(
                path, f"{where} must be true, false or null. Got {value!r} instead."
            )
        return "true" if value else "false"
    if kind == "int":
        low, high = allowed
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if not is_int or not low <= value <= high:
            raise _fail(
                path,
                f"{where} must be an integer from {low} to {high}, or null. "
                f"Got {value!r} instead.",
            )
        return str(value)
    if kind == "enum" and value not in allowed:
        raise _fail(
            path,
            f"{where} must be one of {', '.join(allowed)}, or null. "
            f"Got {value!r} instead.",
        )
    if not isinstance(value, (str, int, float)):
        raise _fail(path, f"{where} must be text or null. Got {value!r} instead.")
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
        raise _fail(
            path, f"mapping_version must be {MAPPING_VERSION}. Got {version!r} instead."
        )
    settings: dict[str, dict[str, Any]] = {}
    for section, allowed in _SETTINGS.items():
        value = raw.get(section) or {}
        if not isinstance(value, dict):
            raise _fail(path, f"{section} must be a mapping. Got {value!r} instead.")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise _fail(
                path,
                f"unknown key {section}.{unknown[0]}{_suggest(unknown[0], allowed)}. "
                f"Known: {', '.join(sorted(allowed))}.",
            )
        settings[section] = value
    marks, calendar = settings["marks"], settings["calendar"]
    prefer = marks.get("prefer", "letter")
    if prefer not in ("letter", "numeric"):
        raise _fail(
            path, f"marks.prefer must be letter or numeric. Got {prefer!r} instead."
        )
    assessments = settings["assessments"]
    return EdfiMapping(
        descriptors={s: dict(raw["descriptors"].get(s, {})) for s in SECTIONS},
        assessment_subjects=_subjects(assessments.get("subjects"), path),
        subject_keywords=_keywords(assessments.get("subject_keywords"), path),
        prefer_letter=prefer == "letter",
        reconcile_future_transcripts=_flag(marks, "reconcile_future_transcripts", path),
        weekdays=_weekdays(calendar.get("weekdays", [1, 2, 3, 4, 5]), path),
        non_instructional_dates=_dates(calendar.get("non_instructional_dates"), path),
        exit_date_is_last_day=_flag(
            settings["enrollment"], "exit_date_is_last_day", path
        ),
        sources=sources,
    )


def _flag(section: dict[str, Any], key: str, path: Path) -> bool:
    """A true/false setting (default true)."""
    value = section.get(key, True)
    if not isinstance(value, bool):
        raise _fail(path, f"{key} must be true or false. Got {value!r} instead.")
    return value


def _subjects(value: Any, path: Path) -> tuple[str, ...]:
    """assessments.subjects: contract subjects to import (default ela, math)."""
    value = ["ela", "math"] if value is None else value
    if not isinstance(value, list) or any(v not in SUBJECTS for v in value):
        raise _fail(
            path,
            f"assessments.subjects must be a list drawn from {', '.join(SUBJECTS)}. "
            f"Got {value!r} instead.",
        )
    return tuple(value)


def _keywords(value: Any, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """assessments.subject_keywords: subject -> words, in file order."""
    value = value or {}
    if not isinstance(value, dict) or any(k not in SUBJECTS for k in value):
        raise _fail(
            path,
            f"assessments.subject_keywords must map subjects ({', '.join(SUBJECTS)}) "
            f"to lists of words. Got {value!r} instead.",
        )
    return tuple((k, tuple(str(w).lower() for w in v or [])) for k, v in value.items())


def _weekdays(value: Any, path: Path) -> tuple[int, ...]:
    """calendar.weekdays: ISO day numbers 1-7."""
    valid = isinstance(value, list) and bool(value)
    if not valid or any(isinstance(v, bool) or v not in range(1, 8) for v in value):
        raise _fail(
            path,
            "calendar.weekdays must list ISO day numbers 1 (Monday) to 7 (Sunday). "
            f"Got {value!r} instead.",
        )
    return tuple(sorted(set(value)))


def _dates(value: Any, path: Path) -> dict[str, frozenset[date]]:
    """calendar.non_instructional_dates as {SchoolId or 'all': dates}."""
    value = value or []
    by_school = value if isinstance(value, dict) else {"all": value}
    out: dict[str, frozenset[date]] = {}
    for school, items in by_school.items():
        if not isinstance(items, list):
            raise _fail(
                path,
                f"calendar.non_instructional_dates[{school!r}] must be a list of "
                f"dates. Got {items!r} instead.",
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
        raise _fail(
            path,
            "calendar.non_instructional_dates entries must be YYYY-MM-DD or "
            f"YYYY-MM-DD..YYYY-MM-DD. Got {text!r} instead.",
        ) from err
