"""A saved LightGBM booster scored through LightGBM's C library, without its Python package.

Importing the ``lightgbm`` package imports scikit-learn, and with it SciPy's statistics
(about 0.7 s of CPU at every ``ontrack score``), for nothing scoring uses: a score needs
the booster's raw margins and its TreeSHAP contributions. Both come from one function of
LightGBM's documented C API (``c_api.h``), ``LGBM_BoosterPredictForMat``, which the
package's ``Booster.predict`` calls too. :class:`NativeBooster` loads the library the
installed package ships (``lightgbm/lib/lib_lightgbm.*``, found without importing the
package) and makes the same calls with the same arguments as ``Booster.predict`` on a
numeric frame: the same library code gives the same numbers, bit for bit.

Whatever this module does not handle exactly as the package would is handed to the
package's own ``Booster``, imported then: no library file where the package keeps it, a
major version other than the one these calls were written for (4), a model that
recorded pandas categories, a frame with categorical or nullable columns, an empty frame
(the package's error), more rows than a 32-bit count. Loading reads the model text
only; nothing is unpickled.

Thread and fork safety: a booster handle is freed when its object is collected; the
library is loaded once per process (a second load by another thread returns the same
handle); LightGBM itself makes concurrent predictions on one handle safe. A forked child
inherits the handle like any memory and may use it.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# c_api.h's constants (the package's basic.py uses the same numbers).
_FLOAT32, _FLOAT64 = 0, 1
_COLUMN_MAJOR, _ROW_MAJOR = 0, 1
_NORMAL, _RAW_SCORE, _CONTRIB = 0, 1, 3
_MAX_ROWS = 2**31 - 1
# The C API these calls were written against (LightGBM 4.x); another major version may
# change a signature, so its package is used instead until this is checked against it.
KNOWN_MAJOR = 4


class LightGBMCallError(RuntimeError):
    """LightGBM's C library refused a call; the message is the library's own."""


@functools.cache
def library() -> ctypes.CDLL | None:
    """LightGBM's C library from the installed package's folder, or None."""
    spec = importlib.util.find_spec("lightgbm")  # finds the package; does not run it
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    name = {"win32": "lib_lightgbm.dll", "darwin": "lib_lightgbm.dylib"}.get(sys.platform, "lib_lightgbm.so")
    path = package / "lib" / name
    if not path.is_file() or _major_version(package) != KNOWN_MAJOR:
        return None
    lib = ctypes.CDLL(str(path))
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    return lib


def _major_version(package: Path) -> int | None:
    """The installed package's major version, from the VERSION.txt it ships."""
    try:
        return int((package / "VERSION.txt").read_text(encoding="utf-8").strip().split(".")[0])
    except (OSError, ValueError):
        return None


def _call(lib: ctypes.CDLL, result: int) -> None:
    if result != 0:
        raise LightGBMCallError(lib.LGBM_GetLastError().decode("utf-8", "replace"))


def _without_categories(model_file: Path) -> bool:
    """True when the model text records no pandas categories (its last line)."""
    with model_file.open("rb") as handle:
        handle.seek(max(0, model_file.stat().st_size - 4096))
        lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last in ("pandas_categorical:[]", "pandas_categorical:null")


class NativeBooster:
    """A booster from a LightGBM model file: ``predict`` as ``lightgbm.Booster``'s for
    the calls scoring makes (normal, ``raw_score`` or ``pred_contrib``, every iteration)."""

    def __init__(self, model_file: Path, lib: ctypes.CDLL) -> None:
        self.model_file = Path(model_file)
        self._lib = lib
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        _call(lib, lib.LGBM_BoosterCreateFromModelfile(
            str(self.model_file).encode("utf-8"), ctypes.byref(iterations), ctypes.byref(self._handle)))
        weakref.finalize(self, lib.LGBM_BoosterFree, self._handle)
        self._package: Any = None  # lightgbm.Booster of the same file, made only when needed

    def predict(self, data: pd.DataFrame, raw_score: bool = False, pred_contrib: bool = False) -> np.ndarray:
        """Probabilities, raw margins (``raw_score``) or contributions plus the expected
        value in the last column (``pred_contrib``), one row per row of ``data``."""
        matrix = _numeric_matrix(data)
        if matrix is None:
            return self._by_package().predict(data, raw_score=raw_score, pred_contrib=pred_contrib)
        kind = _CONTRIB if pred_contrib else _RAW_SCORE if raw_score else _NORMAL
        rows, columns = matrix.shape
        if matrix.dtype not in (np.float32, np.float64):
            matrix = matrix.astype(np.float32)  # as the package does for other numbers
        layout = _COLUMN_MAJOR if matrix.flags["F_CONTIGUOUS"] else _ROW_MAJOR
        flat = np.asarray(matrix, order="F" if layout == _COLUMN_MAJOR else "C").ravel(
            order="F" if layout == _COLUMN_MAJOR else "C")
        size = ctypes.c_int64(0)
        _call(self._lib, self._lib.LGBM_BoosterCalcNumPredict(
            self._handle, ctypes.c_int(rows), ctypes.c_int(kind), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.byref(size)))
        out = np.empty(size.value, dtype=np.float64)
        written = ctypes.c_int64(0)
        _call(self._lib, self._lib.LGBM_BoosterPredictForMat(
            self._handle, flat.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int(_FLOAT64 if flat.dtype == np.float64 else _FLOAT32),
            ctypes.c_int32(rows), ctypes.c_int32(columns), ctypes.c_int(layout), ctypes.c_int(kind),
            ctypes.c_int(0), ctypes.c_int(-1), b"", ctypes.byref(written),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        if written.value != size.value:
            raise LightGBMCallError(
                f"LightGBM must write {size.value} predictions. Got {written.value} instead.")
        return out.reshape(rows, -1) if out.size != rows or pred_contrib else out

    def _by_package(self) -> Any:
        if self._package is None:
            import lightgbm as lgb

            self._package = lgb.Booster(model_file=str(self.model_file))
        return self._package


def _numeric_matrix(data: pd.DataFrame) -> np.ndarray | None:
    """The frame as the package would pass it to the library (its dtype rule:
    the common type of the columns and float32), or None when the package must do it."""
    if not isinstance(data, pd.DataFrame) or data.ndim != 2 or not 0 < len(data) <= _MAX_ROWS:
        return None
    kinds = [dtype for dtype in data.dtypes]
    if not kinds or any(not isinstance(d, np.dtype) or d.kind not in "fiub" for d in kinds):
        return None  # categorical, nullable, object or extension columns: the package's rules
    target = np.result_type(*[d.type for d in kinds], np.float32)
    return data.to_numpy(dtype=target, copy=False)


def open_booster(model_file: Path) -> Any:
    """A :class:`NativeBooster` of ``model_file``, or the package's ``Booster`` when this
    module cannot score it exactly as the package would."""
    lib = library()
    if lib is not None and _without_categories(Path(model_file)):
        return NativeBooster(Path(model_file), lib)
    import lightgbm as lgb

    return lgb.Booster(model_file=str(model_file))
