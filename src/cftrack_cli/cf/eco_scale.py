"""ECO's use of the fDSST scale filter: the same filter, plus a parabola through the peak.

:class:`~cftrack_cli.cf.scale.ScaleFilter` returns the best of the 33 interpolated scales.
ECO (``do_poly_interp``) fits a quadratic, in scale-factor space, through that maximum and its
two neighbours and returns the vertex, which removes the 2 % quantisation of the estimate.
"""

from __future__ import annotations

import numpy as np

from cftrack_cli.cf.fourier import resize_spectrum_1d
from cftrack_cli.cf.scale import ScaleFilter


def parabola_vertex(xs: np.ndarray, ys: np.ndarray) -> float:
    """``x`` of the maximum of the parabola through three points (the middle ``x`` if none)."""
    if len(set(np.round(xs, 12))) < 3:  # fewer than three distinct scales: nothing to fit
        return float(xs[1])
    a, b, _ = np.linalg.solve(np.stack([xs**2, xs, np.ones(3)], axis=1), ys)
    if not a < 0:  # not a maximum: keep the sampled best
        return float(xs[1])
    return float(np.clip(-b / (2 * a), min(xs), max(xs)))


class RefinedScaleFilter(ScaleFilter):
    """:class:`ScaleFilter` whose estimate is refined by a parabola fit (ECO's setting)."""

    def interpolated_response(self, samples: np.ndarray) -> np.ndarray:
        """The response over the ``n_interp_scales`` factors of :attr:`interp_factors`."""
        if self._num is None or self._basis is None or self._den is None:
            raise RuntimeError("update the scale filter once before estimating")
        zf = self._project(np.asarray(samples, dtype=np.float64), self._basis)
        response_f = np.sum(self._num * zf, axis=0) / (self._den + self.params.lam)
        return np.fft.ifft(resize_spectrum_1d(response_f, self.params.n_interp_scales)).real

    def estimate(self, samples: np.ndarray) -> tuple[float, float]:
        response = self.interpolated_response(samples)
        n = response.size
        best = int(np.argmax(response))
        idx = np.array([(best - 1) % n, best, (best + 1) % n])
        factor = parabola_vertex(self.interp_factors[idx], response[idx])
        return factor, float(response[best])
