"""The faster paths behind the profile pages give exactly what the plain ones gave.

Grouping a batch's rows per student boxes each distinct date once and makes the dicts in
one pass; a waterfall row's heights and a month's label are worked out once. Each is
checked here against the straightforward computation it replaced, on the awkward cases
(missing values of every kind, time zones, numpy scalars in object columns, row order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ontrack.reports.profile_charts import attendance_chart, waterfall_chart

from ontrack.scoring.profile_rows import grouped as _grouped


def _row_by_row(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """The plain grouping: every cell boxed on its own, missing ones None."""
    out: dict[str, list[dict]] = {}
    for i in range(len(frame)):
        row = {}
        for name in frame.columns:
            value = frame[name].astype(object).iloc[i]
            value = None if pd.isna(value) else value
            row[str(name)] = value.item() if isinstance(value, np.generic) else value
        out.setdefault(str(row["student_id"]), []).append(row)
    return out


def _awkward_frame() -> pd.DataFrame:
    day = pd.Timestamp("2024-06-30")
    return pd.DataFrame({
        "student_id": pd.Series(["b", "a", "b", "a", "c"], dtype="string"),
        "when": pd.Series([day, pd.NaT, day, pd.Timestamp("2025-01-31 13:45"), day]).astype("datetime64[us]"),
        "scored_at": pd.Series([pd.Timestamp("2025-02-01 08:00", tz="UTC"), pd.NaT,
                                pd.Timestamp("2025-02-01 08:00", tz="UTC"), pd.NaT,
                                pd.Timestamp("2025-03-01 09:30", tz="UTC")]),
        "count": pd.array([1, None, 3, 4, None], dtype="Int64"),
        "flag": pd.array([True, None, False, True, None], dtype="boolean"),
        "score": [1.5, np.nan, 2.0, np.nan, 0.25],
        "term": pd.Series(["S1", None, "S2", "S1", None], dtype="string"),
        "mixed": pd.Series([np.int64(7), "x", None, np.float64(2.5), np.nan], dtype=object),
        "year": np.array([2024, 2024, 2025, 2025, 2025], dtype="int32"),
    })


def test_grouped_rows_equal_the_row_by_row_values_types_and_order() -> None:
    frame = _awkward_frame()
    fast, plain = _grouped(frame), _row_by_row(frame)
    assert list(fast) == ["b", "a", "c"] and fast == plain
    for student, rows in plain.items():
        for mine, theirs in zip(fast[student], rows, strict=True):
            assert list(mine) == list(theirs)
            for name, value in theirs.items():
                got = mine[name]
                assert type(got) is type(value), f"{name} must be {type(value).__name__}. Got {type(got).__name__} instead."
                if isinstance(value, pd.Timestamp):
                    assert (got.unit, str(got.tz), got.isoformat()) == (value.unit, str(value.tz), value.isoformat())
    assert fast["a"][0]["when"] is None and fast["a"][0]["scored_at"] is None and fast["a"][0]["count"] is None
    assert fast["b"][0]["when"] == pd.Timestamp("2024-06-30") and fast["a"][1]["when"].hour == 13
    assert _grouped(frame.iloc[:0]) == {}


def test_waterfall_rows_keep_their_heights_and_arrows() -> None:
    features = {f"f{i}": (-1) ** i * (i + 1) / 10 for i in range(12)}
    chart = waterfall_chart({"base": -1.0, "features": features})
    rows = chart["rows"]
    assert len(rows) == 10 and rows[-1]["label"] == "3 other features"
    for i, row in enumerate(rows):
        y0, y1 = 30 + i * 26 + 4, 30 + (i + 1) * 26 - 4
        mid = (y0 + y1) / 2
        assert (row["y0"], row["y1"], row["label_y"], row["text_y"]) == \
            (round(float(y0), 1), round(float(y1 + 8), 1), round(mid + 4, 1), round(mid + 4, 1))
        corners = [tuple(map(float, p.split(","))) for p in row["points"].split()]
        assert [c[1] for c in corners] == [y0, y0, mid, y1, y1]
        assert corners[0][0] == corners[4][0] and corners[1][0] == corners[3][0]
        assert corners[2][0] == row["connector_x"]
    assert rows[0]["label"] == "f11" and rows[0]["text"] == "-1.20" and rows[0]["color"] == "#008bfb"


def test_attendance_bars_are_labelled_by_month_and_share_one_width() -> None:
    months = [{"school_year": 2025, "year": 2024, "month": 12, "days": 15, "absent": 3},
              {"school_year": 2025, "year": 2025, "month": 1, "days": 20, "absent": 0}]
    chart = attendance_chart(months)
    assert [b["title"] for b in chart["bars"]] == ["Dec 2024: 3 of 15 days absent (20%)",
                                                    "Jan 2025: 0 of 20 days absent (0%)"]
    assert chart["bars"][0]["w"] == chart["bars"][1]["w"] == round((720 - 48) / 2 - 2, 1)


def test_mark_rows_rendered_once_are_the_rows_the_page_loop_renders_and_stay_escaped() -> None:
    from ontrack.reports.profile_markup import mark_rows as _marks
    from ontrack.reports.profile_markup import rows_html as _rows_html
    from ontrack.reports.templating import environment

    hostile = "<img src=x onerror=alert(2)>"
    marks = _marks([
        {"school_year": 2025, "term": "S1", "subject": "math", "course_id": "M8", "course_name": hostile,
         "mark": "B", "is_final": True, "credits_attempted": 1.0, "credits_earned": 1.0},
        {"school_year": 2025, "term": "S1", "subject": "ela", "course_id": "E8", "course_name": None,
         "mark": "F&", "is_final": False, "credits_attempted": None, "credits_earned": 0.0},
    ])
    loop = environment().from_string(
        "{% for m in marks %}<tr><td>{{ m['school_year'] }}</td><td>{{ m['term'] }}</td><td>{{ m['course'] }}</td>"
        "<td>{{ m['subject'] }}</td><td>{{ m['mark'] }}</td><td>{{ m['final'] }}</td><td class=\"num\">"
        "{{ m['attempted'] }}</td><td class=\"num\">{{ m['earned'] }}</td></tr>{% endfor %}")
    rendered: dict[tuple, str] = {}
    first = _rows_html("mark_row", marks, rendered)
    assert str(first) == loop.render(marks=marks)
    assert hostile not in first and "&lt;img src=x onerror=alert(2)&gt;" in first and "F&amp;" in first
    assert len(rendered) == 2
    again = _rows_html("mark_row", list(reversed(marks)), rendered)  # another page: the same rows, from the cache
    assert len(rendered) == 2 and str(again) == loop.render(marks=list(reversed(marks)))


def test_criterion_cells_and_month_rows_rendered_once_equal_the_page_loops() -> None:
    from ontrack.reports.profile_markup import rows_html as _rows_html
    from ontrack.reports.templating import environment

    cells = [{"label": "GPA", "value": "2.50", "status": "not met"}, {"label": "D/F", "value": "<1&", "status": ""}]
    cell_loop = environment().from_string(
        "{% for c in cells %}<td>{{ c['value'] }}{% if c['status'] %} <span class=\"{{ c['status'] | "
        "replace(' ', '-') }}\">{{ c['status'] }}</span>{% endif %}</td>{% endfor %}")
    months = [{"label": "Jan 2025", "school_year": 2025, "days": 20, "absent": 2, "rate": "90.0%"},
              {"label": "Feb 2025", "school_year": 2025, "days": 0, "absent": 0, "rate": ""}]
    month_loop = environment().from_string(
        "{% for m in months %}<tr><td>{{ m['label'] }}</td><td>{{ m['school_year'] }}</td><td class=\"num\">"
        "{{ m['days'] }}</td><td class=\"num\">{{ m['absent'] }}</td><td class=\"num\">{{ m['rate'] }}</td></tr>"
        "{% endfor %}")
    rendered: dict[tuple, str] = {}
    for _page in range(2):
        assert str(_rows_html("criterion_cell", cells, rendered)) == cell_loop.render(cells=cells)
        assert str(_rows_html("month_row", months, rendered)) == month_loop.render(months=months)
    assert len(rendered) == 4 and "&lt;1&amp;" in rendered[("criterion_cell", (str, "D/F"), (str, "<1&"), (str, ""))]


def test_rows_that_read_apart_are_never_taken_for_each_other() -> None:
    """1, 1.0 and True are equal as dict keys but print as 1, 1.0 and True: the cache
    of rendered rows must keep them apart."""
    from ontrack.reports.profile_markup import rows_html as _rows_html
    from ontrack.reports.templating import environment

    base = {"school_year": 2025, "term": "S1", "course": "Math 8", "subject": "math", "mark": "B",
            "final": "yes", "attempted": "0.5", "earned": "0.5"}
    rows = [dict(base, school_year=value) for value in (1, 1.0, True)]
    rendered: dict[tuple, str] = {}
    html = str(_rows_html("mark_row", rows, rendered))
    loop = environment().from_string(
        "{% for m in marks %}<tr><td>{{ m['school_year'] }}</td><td>{{ m['term'] }}</td><td>{{ m['course'] }}</td>"
        "<td>{{ m['subject'] }}</td><td>{{ m['mark'] }}</td><td>{{ m['final'] }}</td><td class=\"num\">"
        "{{ m['attempted'] }}</td><td class=\"num\">{{ m['earned'] }}</td></tr>{% endfor %}")
    assert html == loop.render(marks=rows)
    assert len(rendered) == 3 and "<td>1.0</td>" in html and "<td>True</td>" in html


def test_shared_rows_equal_the_grouped_rows_and_share_one_dict_per_record() -> None:
    from ontrack.scoring.profile_rows import grouped, shared_rows

    frame = _awkward_frame().drop(columns=["mixed"])
    frame = pd.concat([frame, frame.iloc[[0, 2, 4]].assign(student_id=["a", "c", "b"])], ignore_index=True)
    shared, plain = shared_rows(frame), grouped(frame)
    assert list(shared) == list(plain)
    for student, rows in plain.items():
        assert shared[student] == [{k: v for k, v in r.items() if k != "student_id"} for r in rows]
    # Equal records (rows 0 and 5: "b" and "a") are one object; different ones are not.
    assert shared["a"][-1] is shared["b"][0] and shared["b"][0] is not shared["b"][1]
    assert shared_rows(frame.iloc[:0]) == {}


def test_attendance_section_renders_what_the_plain_chart_and_loops_render() -> None:
    from ontrack.reports.profile_markup import attendance_section, with_ticks
    from ontrack.reports.templating import environment

    months = [{"school_year": 2025, "year": 2024, "month": m, "days": 18 + m % 3, "absent": m % 4} for m in (9, 10, 11, 12)]
    months += [{"school_year": 2026, "year": 2025, "month": 9, "days": 0, "absent": 0}]
    plain = attendance_chart(months)
    bars = environment().from_string(
        "{% for b in c['bars'] %}<rect x=\"{{ b['x'] }}\" y=\"{{ b['y'] }}\" width=\"{{ b['w'] }}\" height=\"{{ b['h'] }}\" "
        "fill=\"#c0392b\"><title>{{ b['title'] }}</title></rect>{% endfor %}").render(c=plain)
    rendered: dict = {}
    for _page in range(2):  # the second page reads every piece from the cache
        section = attendance_section(months, [], rendered)
        assert str(section["bars_html"]) == bars and section["chart"]["years"] == plain["years"]
        assert section["chart"]["ticks"] == plain["ticks"] and "Sep 2025</td><td>2026</td>" in section["months_html"]
    assert with_ticks(None, rendered) is None and len(rendered) == 2 * len(months) + 1


def test_marks_keep_the_table_order_ties_and_credit_sums_of_the_plain_rows() -> None:
    from ontrack.reports.profile_markup import mark_rows, marks_html

    def mark(course: str, mark: str, final: bool, earned: float | None) -> dict:
        return {"school_year": 2025, "term": "S1", "course_id": course, "course_name": f"<{course}>", "subject": "math",
                "mark": mark, "is_final": final, "credits_attempted": 0.1, "credits_earned": earned}

    marks = [mark("M2", "W", False, None), mark("M1", "B", True, 0.1), mark("M1", "A", True, 0.2),
             mark("M2", "C", True, None)]
    rendered: dict = {}
    rows, html, credits = marks_html(marks, rendered)
    assert rows == mark_rows(marks) and [r["mark"] for r in rows] == ["B", "A", "W", "C"]
    assert html.count("<tr>") == 4 and "&lt;M1&gt;" in html and "<M1>" not in html
    assert credits == [{"school_year": 2025, "term": "S1", "attempted": f"{0.1 + 0.1 + 0.1:g}",
                        "earned": f"{0.1 + 0.2:g}"}]
    again = marks_html(list(reversed(marks)), rendered)
    assert [r["mark"] for r in again[0]] == ["A", "B", "C", "W"] and len(rendered[("mark_entries",)]) == 4
