"""The district report's charts are drawn once per input (reports/district/chart_memo.py):
the same input gives the SVG drawn before, and any change to an input (a value, a
word, the type or sign of a number) draws again, exactly as a fresh process would."""

from __future__ import annotations

import pytest
from ontrack.reports.district import chart_memo, charts, model_charts


@pytest.fixture(autouse=True)
def _fresh_memo():
    chart_memo.forget()
    yield
    chart_memo.forget()


def _panels(values: tuple, years: tuple = (2023, 2024, 2025)) -> list[charts.TrendPanel]:
    school = charts.Series("school", values)
    district = charts.Series("district", (0.2, 0.25, 0.3), charts.DISTRICT, True)
    return [charts.TrendPanel("Chronic absence", years, (school, district))]


def _fresh(draw, *args, **kwargs) -> str:
    """What a process that never drew anything gets."""
    chart_memo.forget()
    return draw(*args, **kwargs)


def test_the_same_input_is_drawn_once_and_gives_the_same_svg(monkeypatch):
    first = charts.trend_chart(_panels((0.1, None, 0.3)), "Trend")
    assert chart_memo.kept() == 1

    def no_drawing(*_args, **_kwargs):
        raise AssertionError("drawn again")

    monkeypatch.setattr(charts, "to_svg", no_drawing)
    assert charts.trend_chart(_panels((0.1, None, 0.3)), "Trend") == first
    assert charts.trend_chart(list(_panels((0.1, None, 0.3))), "Trend") == first


@pytest.mark.parametrize(
    "changed",
    [
        lambda: charts.trend_chart(_panels((0.1, None, 0.35)), "Trend"),  # a value
        lambda: charts.trend_chart(_panels((0.1, 0.2, 0.3)), "Trend"),  # withheld -> shown
        lambda: charts.trend_chart(_panels((0.1, None, 0.3)), "Trend <b>"),  # the title
        lambda: charts.trend_chart(_panels((0.1, None, 0.3), (2022, 2023, 2024)), "Trend"),
    ],
)
def test_any_changed_input_is_drawn_again(changed):
    before = charts.trend_chart(_panels((0.1, None, 0.3)), "Trend")
    after = changed()
    assert after != before
    assert chart_memo.kept() == 2
    assert after == _fresh(changed)


def test_numbers_that_compare_equal_but_print_differently_are_not_confused():
    labels = ["recall", "precision"]
    zero = model_charts.paired_bars("Model and rule", labels, [0.0, 0.5], [0.4, 0.5])
    minus = model_charts.paired_bars("Model and rule", labels, [-0.0, 0.5], [0.4, 0.5])
    assert chart_memo.kept() == 2
    assert minus == _fresh(model_charts.paired_bars, "Model and rule", labels, [-0.0, 0.5], [0.4, 0.5])
    assert zero == _fresh(model_charts.paired_bars, "Model and rule", labels, [0.0, 0.5], [0.4, 0.5])
    chart_memo.forget()
    charts.group_bars("Groups", ["a", "b"], [1, 0.5], 0.5)
    charts.group_bars("Groups", ["a", "b"], [1.0, 0.5], 0.5)
    assert chart_memo.kept() == 2  # 1 and 1.0 are kept apart too


def test_arguments_it_cannot_key_exactly_are_simply_drawn():
    import numpy as np

    values = np.array([0.2, 0.4])
    svg = charts.group_bars("Groups", ["a", "b"], values, None)
    assert chart_memo.kept() == 0
    assert svg == charts.group_bars("Groups", ["a", "b"], [0.2, 0.4], None)


def test_what_is_kept_stays_under_the_limit(monkeypatch):
    monkeypatch.setattr(chart_memo, "LIMIT", 3 * len(charts.group_bars("G", ["a"], [0.1], None)))
    chart_memo.forget()
    for k in range(10):
        charts.group_bars("G", ["a"], [k / 10], None)
    assert 1 <= chart_memo.kept() <= 3


def test_reused_figures_keep_nothing_of_the_chart_before():
    """Scatters and model charts are drawn on one figure per process: a chart drawn
    after another (more bars or schools, fewer, withheld ones, no bright spot) is the
    one a new figure gives."""
    four = ("Model", ["a", "b", "c", "d"], [0.5, None, 0.25, 0.75], [0.4, 0.3, None, 0.6])
    two = ("Model", ["a", "b"], [0.9, 0.8], [0.1, None], ("champion", "rule"))
    calibration = ("Calibration", [0.1, 0.5, 0.9], [0.12, 0.45, 0.95], [400, 80, 12])
    other = ("Calibration", [0.2, 0.6], [0.3, 0.5], [40, 900])
    five = ("Schools", [("A", 0.1, 0.2, True), ("B", 0.5, 0.6, False), ("C", 0.3, 0.9, False),
                        ("D", 0.7, 0.1, True), ("E <i>", 0.2, 0.4, False)],
            "x", "y", (0.2, 0.3, 0.5), (0.2, 0.4, 0.6))
    three = ("Schools", [("F", 0.4, 0.5, False), ("G", 0.45, 0.55, False), ("H", 0.5, 0.7, False)],
             "x2", "y2", (0.42, 0.45, 0.48), (0.52, 0.55, 0.62))
    for draw, first, then in ((model_charts.paired_bars, four, two),
                              (model_charts.calibration_chart, calibration, other),
                              (charts.scatter_chart, five, three)):
        before = draw(*first)
        after = draw(*then)  # on the figure the first chart was drawn on
        assert after != before
        model_charts._FRAMES.clear()  # as in a new process
        charts._SCATTER_FRAMES.clear()
        assert after == _fresh(draw, *then)
        assert before == _fresh(draw, *first)
    assert "75%" in model_charts.paired_bars(*four)  # a value label (ticks are 0, 20, ... %)


def test_a_chart_that_fails_half_way_leaves_nothing_on_the_reused_figure():
    good = ("Model", ["a", "b"], [0.5, 0.25], [0.4, 0.3])
    before = model_charts.paired_bars(*good)
    chart_memo.forget()
    with pytest.raises(ValueError):  # the rule's values do not match the metrics
        model_charts.paired_bars("Model", ["a", "b"], [0.9, 0.8], [0.1, 0.2, 0.3])
    assert model_charts.paired_bars(*good) == before
