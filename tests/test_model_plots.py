"""Training plots (OUT/models/<m>/plots): the SHAP summary, the importance bars, the
reliability plots (pooled and by group, only groups large enough), deterministic PNGs."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties

from ontrack.modeling import plots
from ontrack.modeling.plots import (
    group_reliability_plot,
    plain_names,
    shap_importance_plot,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_training_writes_every_plot_as_png(trained_grade8: dict) -> None:
    folder = trained_grade8["out"] / "models" / "grade8"
    evaluation = trained_grade8["result"].evaluation
    files = sorted(p.name for p in (folder / "plots").glob("*.png"))
    assert files == evaluation["plots"]
    for name in ("reliability.png", "precision_recall_at_k.png", "shap_importance.png", "shap_beeswarm.png"):
        assert name in files
        data = (folder / "plots" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
        assert b"tIME" not in data and b"Software" not in data  # no stamp: same bytes each run
    assert all(n.startswith(("reliability", "precision", "shap")) for n in files)
    assert not list((folder / "plots").glob(".*.tmp"))


def test_group_reliability_only_for_groups_large_enough(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    students = np.arange(n).astype(str)
    groups = pd.Series(np.where(np.arange(n) < 1490, "a", np.where(np.arange(n) < 2990, "b", "tiny")))
    risk = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < risk).astype(float)
    path = group_reliability_plot(y, risk, students, groups, tmp_path / "g.png", min_group_size=20,
                                  min_positives=30, title="t")
    assert path is not None and path.read_bytes().startswith(PNG)
    # Nothing to draw when every group is under the minimum size: no file at all.
    none = group_reliability_plot(y[:40], risk[:40], students[:40], pd.Series(["a", "b"] * 20),
                                  tmp_path / "none.png", min_group_size=25, min_positives=1, title="t")
    assert none is None and not (tmp_path / "none.png").exists()


def test_same_plot_same_bytes(tmp_path) -> None:
    rng = np.random.default_rng(1)
    risk = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < risk).astype(float)
    args = {"min_group_size": 10, "min_positives": 5, "title": "t"}
    students = np.arange(500).astype(str)
    first = group_reliability_plot(y, risk, students, pd.Series(["a"] * 500), tmp_path / "1.png", **args)
    second = group_reliability_plot(y, risk, students, pd.Series(["a"] * 500), tmp_path / "2.png", **args)
    assert first.read_bytes() == second.read_bytes()


def test_plain_names_from_the_dictionary(tmp_path) -> None:
    (tmp_path / "d.csv").write_text(
        "name,description\nattendance_rate_ytd,\"Share of days attended this year (daily records). "
        "Missing without records.\"\n", encoding="utf-8")
    names = plain_names(tmp_path / "d.csv", ["attendance_rate_ytd", "other"])
    assert names == {"attendance_rate_ytd": "Share of days attended this year", "other": "other"}


def test_remembered_text_draws_the_same_bytes(tmp_path) -> None:
    """Text sizes are remembered across figures: a figure drawn with them remembered is
    the same as one drawn from scratch."""
    importance = pd.Series({f"feature_{i}": 0.1 * (i + 1) for i in range(6)})
    names = {f: f"Share of days {f} attended this school year" for f in importance.index}
    plots._TEXT_SIZES.clear()
    cold = shap_importance_plot(importance, tmp_path / "cold.png", "grade8: importance", names=names)
    assert plots._TEXT_SIZES  # something was remembered
    warm = shap_importance_plot(importance, tmp_path / "warm.png", "grade8: importance", names=names)
    assert cold.read_bytes() == warm.read_bytes()


def test_remembered_text_sizes_follow_font_size_and_settings() -> None:
    """A remembered size is never reused for another font size, nor after the settings
    change which font a family name means."""
    text = "Share of days attended this year"
    small, large = FontProperties(size=8), FontProperties(size=12)
    sizes = {}
    for family in ("DejaVu Sans", "DejaVu Sans Mono"):
        with matplotlib.rc_context({"font.sans-serif": [family]}):
            ours, agg = plots._Renderer(100, 100, 100), RendererAgg(100, 100, 100)
            for prop in (small, large, small):
                expected = agg.get_text_width_height_descent(text, prop, False)
                assert ours.get_text_width_height_descent(text, prop, False) == expected
            sizes[family] = ours.get_text_width_height_descent(text, small, False)
    assert sizes["DejaVu Sans"] != sizes["DejaVu Sans Mono"]


def test_groups_are_counted_in_distinct_students(tmp_path) -> None:
    """A group is drawn by its distinct students (and those with the outcome), not rows:
    group "a" has 40 rows but 20 students, 10 of them with the outcome."""
    students = np.array([f"s{i % 20}" for i in range(40)] + [f"t{i}" for i in range(30)])
    groups = pd.Series(["a"] * 40 + ["b"] * 30)
    y = np.array([1.0 if i % 20 < 10 else 0.0 for i in range(40)] + [1.0] * 30)
    risk = np.linspace(0, 1, 70)
    args = {"min_positives": 10, "title": "t"}
    assert group_reliability_plot(y, risk, students, groups, tmp_path / "20.png", min_group_size=20, **args)
    assert group_reliability_plot(y[:40], risk[:40], students[:40], groups[:40], tmp_path / "21.png",
                                  min_group_size=21, **args) is None
    assert group_reliability_plot(y[:40], risk[:40], students[:40], groups[:40], tmp_path / "pos.png",
                                  min_group_size=20, min_positives=11, title="t") is None
