"""The booster scored through LightGBM's C library gives the package's numbers bit for
bit (margins, probabilities, TreeSHAP contributions, any row order or layout), hands
what it does not handle to the package, and is what scoring's champion loads."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from ontrack.modeling.bundle import load_bundle, save_bundle
from ontrack.modeling.native_booster import NativeBooster, library, open_booster


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(3000, 6)), columns=[f"f{i}" for i in range(6)])
    X.loc[rng.random(3000) < 0.2, "f1"] = np.nan  # missing values take their own branch
    y = (X["f0"] + 0.5 * X["f2"].fillna(0) + rng.normal(size=3000) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 1},
                        lgb.Dataset(X, y), num_boost_round=40)
    path = tmp_path_factory.mktemp("booster") / "booster.txt"
    booster.save_model(str(path))
    return path


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(500, 6))
    values[rng.random(values.shape) < 0.1] = np.nan
    columns = [f"f{i}" for i in range(6)]
    mixed = pd.DataFrame(values, columns=columns)
    mixed["f3"] = rng.integers(-2, 3, 500)  # an integer column: the package's float rule
    return {
        "float64": pd.DataFrame(values, columns=columns),
        "float32": pd.DataFrame(values.astype(np.float32), columns=columns),
        "column-major": pd.DataFrame(np.asfortranarray(values), columns=columns),
        "one row": pd.DataFrame(values[:1], columns=columns),
        "with an integer column": mixed,
    }


def test_the_library_is_found_and_the_native_booster_is_chosen(model_file: Path) -> None:
    assert library() is not None
    assert isinstance(open_booster(model_file), NativeBooster)


@pytest.mark.parametrize("name", sorted(_frames()))
def test_predictions_equal_the_packages_bit_for_bit(model_file: Path, name: str) -> None:
    frame = _frames()[name]
    native, package = NativeBooster(model_file, library()), lgb.Booster(model_file=str(model_file))
    for kind in ({}, {"raw_score": True}, {"pred_contrib": True}):
        got, expected = native.predict(frame, **kind), package.predict(frame, **kind)
        assert got.shape == expected.shape and got.dtype == expected.dtype, kind
        assert np.array_equal(got, expected), kind
    assert native._package is None  # all answered by the library


def test_what_it_does_not_handle_goes_to_the_package(model_file: Path) -> None:
    native = NativeBooster(model_file, library())
    frame = _frames()["float64"].astype({"f4": "Float64"})  # a nullable column
    expected = lgb.Booster(model_file=str(model_file)).predict(frame, pred_contrib=True)
    assert np.array_equal(native.predict(frame, pred_contrib=True), expected)
    assert native._package is not None
    with pytest.raises(ValueError, match="non empty"):  # the package's own error
        native.predict(frame.iloc[:0])


def test_another_major_version_is_left_to_the_package(tmp_path: Path) -> None:
    from ontrack.modeling.native_booster import KNOWN_MAJOR, _major_version

    assert KNOWN_MAJOR == int(lgb.__version__.split(".")[0])
    (tmp_path / "VERSION.txt").write_text("5.0.0\n", encoding="utf-8")
    assert _major_version(tmp_path) == 5
    assert _major_version(tmp_path / "nowhere") is None


def test_a_model_with_pandas_categories_is_left_to_the_package(model_file: Path, tmp_path: Path) -> None:
    text = model_file.read_text(encoding="utf-8").rstrip()
    assert text.endswith(("pandas_categorical:null", "pandas_categorical:[]"))
    categorical = tmp_path / "booster.txt"
    categorical.write_text(text.rsplit("pandas_categorical:", 1)[0] + 'pandas_categorical:[["a", "b"]]\n',
                           encoding="utf-8")
    assert isinstance(open_booster(categorical), lgb.Booster)


def test_a_native_bundle_scores_as_the_packages(model_file: Path, tmp_path: Path) -> None:
    booster = lgb.Booster(model_file=str(model_file))
    contract = {"features": [f"f{i}" for i in range(6)]}
    save_bundle(tmp_path / "bundle", booster, {"method": "sigmoid", "a": 0.9, "b": -0.1, "limits": [0.01, 0.015, 0.985, 0.99]},
                contract)
    fast, slow = load_bundle(tmp_path / "bundle", native=True), load_bundle(tmp_path / "bundle")
    assert isinstance(fast.booster, NativeBooster) and isinstance(slow.booster, lgb.Booster)
    X = _frames()["float64"]
    assert np.array_equal(fast.predict_risk(X), slow.predict_risk(X))
    assert fast.contributions(X).equals(slow.contributions(X))
