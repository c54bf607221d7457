"""Margins and SHAP contributions straight through XGBoost's C API, for one row at a time.

Why: for one employee, XGBoost's Python wrapper costs more than the prediction. Measured here
(xgboost 3.2.0, 300 trees of depth 4, one row): `Booster.inplace_predict` ~300 µs of which the
C call is ~145 µs; `DMatrix(x)` ~270 µs of which ~110 µs in C. The rest is Python: data-type
dispatch, a JSON config per call, a class defined per call to wrap the output. The calls here
pass the same array interface and the same JSON config to the same C functions
(`XGBoosterPredictFromDense`, `XGDMatrixCreateFromDense`, `XGBoosterPredictFromDMatrix`), so
the numbers are the same to the bit; a test compares them with the public API on every run,
so an XGBoost upgrade that changes either fails there, not in production.

It uses `xgboost.core._LIB` (the loaded library, private to the Python package but unchanged
for years). If it is missing, `AVAILABLE` is False and every function here falls back to the
public API. Inputs must be C-contiguous float32 matrices (what `FeatureSpec.matrix` makes).
"""

from __future__ import annotations

import ctypes
import json
import threading

import numpy as np
import xgboost as xgb

try:  # pragma: no branch - the import either works for the pinned xgboost or it does not
    from xgboost.core import _LIB, _check_call, c_bst_ulong

    AVAILABLE = all(
        hasattr(_LIB, f)
        for f in (
            "XGBoosterPredictFromDense",
            "XGProxyDMatrixCreate",
            "XGDMatrixCreateFromDense",
            "XGBoosterPredictFromDMatrix",
            "XGDMatrixFree",
        )
    )
except ImportError:  # pragma: no cover
    AVAILABLE = False

# Prediction types of XGBoost's C API config ("type"): 1 = margin, 2 = exact SHAP contributions.
_MARGIN = json.dumps(
    {
        "type": 1,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()
_CONTRIBS = json.dumps(
    {"type": 2, "training": False, "iteration_begin": 0, "iteration_end": 0, "strict_shape": False}
).encode()


def _interface(x: np.ndarray) -> bytes:
    rows, cols = x.shape
    return (
        f'{{"data": [{x.ctypes.data}, true], "shape": [{rows}, {cols}], '
        f'"typestr": "<f4", "version": 3}}'
    ).encode()


_local = threading.local()


def _proxy() -> ctypes.c_void_p:
    """This thread's proxy DMatrix for in-place prediction, made once.

    Without one, XGBoost makes a new proxy per call, and each new one asks the OS how many
    CPUs the cgroup allows (two file reads and five syscalls: ~80 µs per call on this VM).
    One per thread, as a proxy holds the array of the call in progress. Never freed: a handful
    of threads live as long as the process.
    """
    proxy = getattr(_local, "proxy", None)
    if proxy is None:
        proxy = ctypes.c_void_p()
        _check_call(_LIB.XGProxyDMatrixCreate(ctypes.byref(proxy)))
        _local.proxy = proxy
    return proxy


def _dense(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _copy_out(out: ctypes.Array, shape: ctypes.Array, dims: c_bst_ulong) -> np.ndarray:
    """The result as XGBoost shapes it. It lives in the booster's per-thread buffer until that
    thread's next call on the booster: copy it now."""
    dims_shape = tuple(int(shape[i]) for i in range(dims.value))
    return np.ctypeslib.as_array(out, shape=dims_shape).copy()


def margin(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """`booster.inplace_predict(x, predict_type="margin")`, without the wrapper's overhead."""
    x = _dense(x)
    if not AVAILABLE or x.shape[0] == 0:
        return booster.inplace_predict(x, predict_type="margin")
    shape = ctypes.POINTER(c_bst_ulong)()
    dims = c_bst_ulong()
    out = ctypes.POINTER(ctypes.c_float)()
    _check_call(
        _LIB.XGBoosterPredictFromDense(
            booster.handle,
            _interface(x),
            _MARGIN,
            _proxy(),
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(out),
        )
    )
    return _copy_out(out, shape, dims)


def contributions(booster: xgb.Booster, x: np.ndarray, nthread: int) -> np.ndarray:
    """`booster.predict(DMatrix(x), pred_contribs=True)`: n x (F + 1) float32, bias last."""
    x = _dense(x)
    if not AVAILABLE or x.shape[0] == 0:
        dm = xgb.DMatrix(x, nthread=nthread)
        return booster.predict(dm, pred_contribs=True, validate_features=False)
    handle = ctypes.c_void_p()
    config = json.dumps({"missing": float("nan"), "nthread": int(nthread)}).encode()
    _check_call(_LIB.XGDMatrixCreateFromDense(_interface(x), config, ctypes.byref(handle)))
    try:
        shape = ctypes.POINTER(c_bst_ulong)()
        dims = c_bst_ulong()
        out = ctypes.POINTER(ctypes.c_float)()
        _check_call(
            _LIB.XGBoosterPredictFromDMatrix(
                booster.handle,
                handle,
                _CONTRIBS,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(out),
            )
        )
        return _copy_out(out, shape, dims)
    finally:
        _check_call(_LIB.XGDMatrixFree(handle))
