"""Range observers: turn the values a tensor takes on calibration data into a clipping range.

``minmax`` keeps the extremes (no clipping). ``percentile`` and ``mse`` need the
distribution: a first calibration pass fixes each tensor's [min, max], a second fills a
histogram over it (:class:`Histogram`), from which the range is chosen:

- ``percentile``: the 0.01 % / 99.99 % quantiles (outliers beyond are clipped);
- ``mse``: the range that minimises the expected squared error of quantize-dequantize
  (rounding noise inside, clipping error outside) on the histogram, searched over
  shrunk ranges. For tensors that are one-sided (ReLU outputs) only the upper end moves.
"""

from __future__ import annotations

import numpy as np

METHODS = ("minmax", "percentile", "mse")
#: Bins of the second-pass histograms: many more than the 256 int8 levels, so the
#: bin centres model rounding noise well.
BINS = 2048


class MinMax:
    """Running min / max of every value seen."""

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf

    def update(self, x: np.ndarray) -> None:
        if x.size:
            self.lo = min(self.lo, float(np.min(x)))
            self.hi = max(self.hi, float(np.max(x)))

    @property
    def seen(self) -> bool:
        return self.lo <= self.hi


class Histogram:
    """Counts over a fixed range [lo, hi] (from a :class:`MinMax` pass)."""

    def __init__(self, lo: float, hi: float, bins: int = BINS) -> None:
        if not hi > lo:
            hi = lo + 1e-8
        self.lo, self.hi = lo, hi
        self.counts = np.zeros(bins, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        c, _ = np.histogram(x, bins=self.counts.size, range=(self.lo, self.hi))
        self.counts += c

    @property
    def centres(self) -> np.ndarray:
        edges = np.linspace(self.lo, self.hi, self.counts.size + 1)
        return (edges[:-1] + edges[1:]) / 2

    def percentile_range(self, pct: float = 99.99) -> tuple[float, float]:
        cdf = np.cumsum(self.counts)
        total = cdf[-1]
        if total <= 0:
            return self.lo, self.hi
        edges = np.linspace(self.lo, self.hi, self.counts.size + 1)
        tail = total * (100.0 - pct) / 100.0
        lo_i = int(np.searchsorted(cdf, tail, side="right"))
        hi_i = int(np.searchsorted(cdf, total - tail, side="left"))
        lo = float(edges[min(lo_i, self.counts.size - 1)])
        hi = float(edges[min(hi_i + 1, self.counts.size)])
        return min(lo, 0.0), max(hi, 0.0)

    def mse_range(self, levels: int, symmetric: bool) -> tuple[float, float]:
        """Range minimising the histogram's quantize-dequantize squared error."""
        x, w = self.centres, self.counts
        if w.sum() <= 0:
            return self.lo, self.hi
        lo0, hi0 = min(self.lo, 0.0), max(self.hi, 0.0)
        best, best_err = (lo0, hi0), np.inf
        for a in np.linspace(1.0, 0.2, 81):
            lo, hi = lo0 * a, hi0 * a
            err = float(np.sum(w * (x - fake_quant(x, lo, hi, levels, symmetric)) ** 2))
            if err < best_err:
                best, best_err = (lo, hi), err
        return best


def fake_quant(x: np.ndarray, lo: float, hi: float, levels: int, symmetric: bool) -> np.ndarray:
    """Quantize-dequantize ``x`` on a grid of ``levels`` steps over [lo, hi] (float64)."""
    if symmetric:
        m = max(abs(lo), abs(hi))
        scale = m / ((levels - 1) // 2) if m > 0 else 1.0
        half = (levels - 1) // 2
        return np.clip(np.round(x / scale), -half, half) * scale
    scale = (hi - lo) / (levels - 1) if hi > lo else 1.0
    zp = np.round(-lo / scale)
    return (np.clip(np.round(x / scale) + zp, 0, levels - 1) - zp) * scale


def mse_weight_scales(w: np.ndarray, axis: int, qmax: int) -> np.ndarray:
    """Per-channel symmetric scales along ``axis`` minimising each channel's rounding+clipping
    squared error (used for int4 weights, where clipping a few outliers pays off)."""
    wc = np.moveaxis(w.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
    amax = np.max(np.abs(wc), axis=1)
    best = np.where(amax > 0, amax / qmax, 1.0)
    best_err = np.full(wc.shape[0], np.inf)
    for a in np.linspace(1.0, 0.4, 61):
        s = np.where(amax > 0, amax * a / qmax, 1.0)[:, None]
        err = np.sum((wc - np.clip(np.round(wc / s), -qmax, qmax) * s) ** 2, axis=1)
        better = err < best_err
        best = np.where(better, s[:, 0], best)
        best_err = np.where(better, err, best_err)
    return best.astype(np.float32)
