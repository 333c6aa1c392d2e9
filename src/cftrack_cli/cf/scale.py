"""The fDSST scale filter (Danelljan et al., "Discriminative Scale Space Tracking", PAMI 2017).

A 1-D correlation filter over a pyramid of ``n_scales`` target-centred samples. Each sample is
a feature vector; the vectors are compressed onto an orthonormal basis (QR of the running
template) and the filter response is interpolated in the Fourier domain from ``n_scales`` to
``n_interp_scales`` points, so 17 samples give the resolution of 33.

This module is pure maths on sample matrices; a tracker supplies the samples, one column per
factor of :attr:`ScaleFilter.sample_factors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cftrack_cli.cf.fourier import resize_spectrum_1d


@dataclass
class ScaleParams:
    n_scales: int = 17  # samples taken per frame
    n_interp_scales: int = 33  # points the response is interpolated to
    scale_step: float = 1.02  # ratio between neighbouring interpolated scales
    sigma_factor: float = 1.0 / 16  # label width, relative to n_interp_scales
    learning_rate: float = 0.025  # running-average rate of the scale model
    lam: float = 1e-2  # regularisation of the closed-form filter
    model_max_area: float = 32.0 * 16.0  # pixels of each resized scale sample
    refine: bool = True  # parabola fit through the peak (ECO); False: the best of the 33


class ScaleFilter:
    """Learns from and estimates on matrices of scale samples (d features x n_scales)."""

    def __init__(self, params: ScaleParams | None = None) -> None:
        p = self.params = params or ScaleParams()
        n = p.n_scales
        centre = np.arange(n) - (n - 1) // 2
        exponents = centre * p.n_interp_scales / n
        #: Size factors of the samples a tracker must extract, relative to the current size.
        self.sample_factors = p.scale_step**exponents
        interp_centre = np.arange(p.n_interp_scales) - (p.n_interp_scales - 1) // 2
        # The interpolated response is wrapped: index 0 is "no change".
        self.interp_factors = p.scale_step ** np.roll(
            interp_centre, -((p.n_interp_scales - 1) // 2)
        )
        sigma = p.n_interp_scales * p.sigma_factor
        label = np.exp(-0.5 * np.roll(exponents, -((n - 1) // 2)) ** 2 / sigma**2)
        self._label_f = np.fft.fft(label)
        self._window = np.hanning(n + 2)[1:-1]
        self._template: np.ndarray | None = None  # running mean of samples (d, n)
        self._num: np.ndarray | None = None
        self._den: np.ndarray | None = None
        self._basis: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self._num is not None

    def _project(self, samples: np.ndarray, basis: np.ndarray) -> np.ndarray:
        return np.fft.fft((basis.T @ samples) * self._window, axis=1)

    def update(self, samples: np.ndarray) -> None:
        """Learn from samples taken at the current (estimated) target size."""
        samples = np.asarray(samples, dtype=np.float64)
        lr = self.params.learning_rate
        if self._template is None:
            self._template = samples.copy()
        else:
            self._template = (1 - lr) * self._template + lr * samples
        self._basis, _ = np.linalg.qr(self._template)
        basis_new, _ = np.linalg.qr(samples)
        self._num = self._label_f[None, :] * np.conj(self._project(self._template, self._basis))
        sample_f = self._project(samples, basis_new)
        den = np.sum((sample_f * np.conj(sample_f)).real, axis=0)
        self._den = den if self._den is None else (1 - lr) * self._den + lr * den

    def interpolated_response(self, samples: np.ndarray) -> np.ndarray:
        """The response over the ``n_interp_scales`` factors of :attr:`interp_factors`."""
        if self._num is None or self._basis is None or self._den is None:
            raise RuntimeError("update the scale filter once before estimating")
        zf = self._project(np.asarray(samples, dtype=np.float64), self._basis)
        response_f = np.sum(self._num * zf, axis=0) / (self._den + self.params.lam)
        return np.fft.ifft(resize_spectrum_1d(response_f, self.params.n_interp_scales)).real

    def estimate(self, samples: np.ndarray) -> tuple[float, float]:
        """The factor by which the target's size changed, and the response peak."""
        response = self.interpolated_response(samples)
        best = int(np.argmax(response))
        if not self.params.refine:
            return float(self.interp_factors[best]), float(response[best])
        n = response.size
        idx = np.array([(best - 1) % n, best, (best + 1) % n])
        return parabola_vertex(self.interp_factors[idx], response[idx]), float(response[best])


def parabola_vertex(xs: np.ndarray, ys: np.ndarray) -> float:
    """``x`` of the maximum of the parabola through three points (the middle ``x`` if none)."""
    if len(set(np.round(xs, 12))) < 3:  # fewer than three distinct scales: nothing to fit
        return float(xs[1])
    a, b, _ = np.linalg.solve(np.stack([xs**2, xs, np.ones(3)], axis=1), ys)
    if not a < 0:  # not a maximum: keep the sampled best
        return float(xs[1])
    return float(np.clip(-b / (2 * a), min(xs), max(xs)))
