"""Time the filter update's operator in two memory layouts, at ``eco-student``'s shapes.

ECO's conjugate gradient applies ``A f = sum_m w_m conj(x_m) (x_m . f)`` about six times per
sparse update. ``ECOFilter.train`` does it with elementwise products over sample-major arrays
``(M, C, rows, cols)``; the alternative stores the samples frequency-major ``(K, M, C)`` and does
two batched matrix-vector products per layer. Random spectra, 30 samples; prints the median ms
per operator application of each and their largest relative difference. A benchmark, not a test.

    taskset -c 0 .venv/bin/python benchmarks/cg_operator.py
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

# eco-student at a 224-pixel sample: conv3_3 (16 channels, stride 4), conv5_3 (64, stride 16)
# and fHOG (10, cell 4), as half-layout spectra (channels, rows, cols).
LAYERS = ((16, 57, 29), (64, 15, 8), (10, 57, 29))
SAMPLES = 30


def _random_complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def sample_major(samples, filters, weights):
    out = []
    for s, f in zip(samples, filters, strict=True):
        scores = (s * f).sum(axis=1) * weights[:, None, None]
        out.append((np.conj(s) * scores[:, None]).sum(axis=0))
    return out


def frequency_major(samples_k, samples_k_h, filters, weights):
    out = []
    for sk, skh, f in zip(samples_k, samples_k_h, filters, strict=True):
        fk = f.reshape(f.shape[0], -1).T[:, :, None]  # (K, C, 1)
        scores = (sk @ fk) * weights[None, :, None]  # (K, M, 1)
        out.append((skh @ scores)[:, :, 0].T.reshape(f.shape))
    return out


def _median_ms(fn, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> int:
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    samples = [_random_complex(rng, (SAMPLES, *shape)) for shape in LAYERS]
    filters = [_random_complex(rng, shape) for shape in LAYERS]
    weights = rng.random(SAMPLES).astype(np.float32)
    samples_k = [
        np.ascontiguousarray(s.reshape(SAMPLES, s.shape[1], -1).transpose(2, 0, 1)) for s in samples
    ]
    samples_k_h = [np.ascontiguousarray(np.conj(s).transpose(0, 2, 1)) for s in samples_k]

    a = sample_major(samples, filters, weights)
    b = frequency_major(samples_k, samples_k_h, filters, weights)
    diff = max(float(np.abs(x - y).max() / np.abs(x).max()) for x, y in zip(a, b, strict=True))
    t_sample = _median_ms(lambda: sample_major(samples, filters, weights))
    t_freq = _median_ms(lambda: frequency_major(samples_k, samples_k_h, filters, weights))
    print(f"sample-major (what ECOFilter.train does): {t_sample:.2f} ms per operator")
    print(f"frequency-major batched products:         {t_freq:.2f} ms per operator")
    print(f"largest relative difference: {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
