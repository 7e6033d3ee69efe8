"""Input checks and row compression shared by the probabilistic customer-base models.

The model functions take one numpy array per customer attribute. These helpers turn what the
caller passed into float arrays of one length, refuse impossible values with a message that names
the argument, and collapse identical rows into weights so that the likelihood is evaluated once per
distinct customer history rather than once per customer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


def as_float_array(values: ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a finite one-dimensional float array, or raise ``ValueError``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or fill them first")
    return array


def same_length(arrays: Sequence[FloatArray], names: Sequence[str]) -> int:
    """Return the common length of ``arrays``; raise ``ValueError`` naming them if they differ."""
    lengths = {len(array) for array in arrays}
    if len(lengths) != 1:
        shown = ", ".join(f"{n}={len(a)}" for n, a in zip(names, arrays, strict=True))
        raise ValueError(f"per-customer arrays must have the same length, got {shown}")
    return lengths.pop()


def check_rfm(frequency: FloatArray, recency: FloatArray, age: FloatArray) -> None:
    """Check the (x, t_x, T) summary of repeat buying: counts, ordering and signs.

    x is a whole number >= 0, 0 <= t_x <= T, T > 0, and t_x = 0 when x = 0 (no repeat purchase
    means the last purchase is the first one).
    """
    same_length([frequency, recency, age], ["frequency", "recency", "T"])
    if np.any(frequency < 0) or np.any(frequency != np.floor(frequency)):
        raise ValueError("frequency must hold whole numbers >= 0 (count of repeat transactions)")
    if np.any(age <= 0):
        raise ValueError("T (time since the first purchase) must be > 0 for every customer")
    if np.any(recency < 0) or np.any(recency > age):
        raise ValueError("recency must satisfy 0 <= recency <= T (time of last repeat purchase)")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("recency must be 0 for customers with frequency 0 (no repeat purchase)")


def as_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Return per-row weights (counts of identical customers); all ones when ``weights`` is None."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    array = as_float_array(weights, "weights")
    if len(array) != n:
        raise ValueError(f"weights has {len(array)} entries for {n} customers")
    if np.any(array < 0):
        raise ValueError("weights must be >= 0 (they count identical customers)")
    return array


def compress_rows(columns: Sequence[FloatArray], weights: FloatArray) -> tuple[FloatArray, ...]:
    """Collapse identical rows of ``columns`` into unique rows plus summed weights.

    Returns the unique columns followed by their weights; rows with weight 0 are dropped. The
    likelihoods here are sums of per-row terms, so this changes their cost and not their value.
    """
    stacked = np.column_stack(columns)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
    keep = summed > 0
    unique = unique[keep]
    totals: FloatArray = summed[keep].astype(np.float64)
    return (*(unique[:, i].copy() for i in range(unique.shape[1])), totals)


def weighted_sum(weights: FloatArray, values: FloatArray) -> float:
    """Sum of ``weights * values``.

    Spelled as an element-wise product and a sum rather than ``np.dot``: a dot product this long
    goes to the multi-threaded BLAS, whose spinning threads made a fit several times slower on a
    busy two-core machine; numpy's own summation stays on one thread and is as exact.
    """
    return float(np.sum(weights * values))
