"""ECO's factorised continuous convolution filter: learning and scores over many feature layers.

Layer ``l`` contributes Fourier coefficients ``z_l`` (``C_l`` channels, half layout, its own
size); its filter ``f_l`` has the same shape. The score's coefficients are
``sum_l pad(sum_c f_lc z_lc)``, every layer zero-padded (centred rows, columns from 0) onto the
largest layer's grid: all layers live on one continuous domain, so frequency ``k`` is the same
frequency in every layer.

Learning minimises, over the full spectrum (Parseval),

    sum_j a_j || sum_l pad(f_l . P_l^T x_jl) - y ||^2 + sum_l || w * f_l ||^2 + lam sum_l ||P_l||^2

with samples ``x_j`` of prior weights ``a_j``, label ``y`` and the spatial regulariser ``w``.
In the first frame, on one sample, both the filter and the projection matrices ``P_l`` (the
factorised convolution) are learned by Gauss-Newton, each step solved by conjugate gradient.
Afterwards ``P`` is fixed, samples are stored projected, and the filter alone is refined by a
few warm-started conjugate-gradient iterations on the normal equations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cftrack_cli.cf.interpolation import (
    half_inner,
    half_weights,
    symmetrize,
)
from cftrack_cli.cf.layout import LayerLayout
from cftrack_cli.cf.optimization import CGState, Vector, solve
from cftrack_cli.cf.regularization import SpatialRegularizer


@dataclass(frozen=True)
class SolverParams:
    precond_data: float = 0.75  # preconditioner: weight of the per-channel sample energy ...
    precond_reg: float = 0.25  # ... against the regulariser's energy
    precond_proj: float = 40.0  # preconditioner scale for the projection-matrix block
    projection_reg: float = 1e-7  # lam: Tikhonov weight on the projection matrices
    init_gn_iter: int = 10  # Gauss-Newton steps in the first frame
    init_cg_iter: int = 15  # conjugate-gradient iterations per Gauss-Newton step
    cg_iter: int = 5  # conjugate-gradient iterations per later update
    cg_forget: float = 0.636  # damping of the carried search direction, (1 - lr) ** 50
    fletcher_reeves: bool = False  # later updates: Polak-Ribiere copes with a changing system


class ECOFilter:
    """Filters ``f_l`` and projections ``P_l`` of all layers, and how to learn and apply them.

    ``label``: the label's half-layout coefficients on the output grid; ``regularizers``: one
    :class:`SpatialRegularizer` per layer.
    """

    def __init__(
        self,
        layer_sizes: Sequence[tuple[int, int]],
        label: np.ndarray,
        regularizers: Sequence[SpatialRegularizer],
        params: SolverParams | None = None,
    ) -> None:
        self.layout = LayerLayout(layer_sizes)
        if label.shape != self.layout.output:
            raise ValueError(f"label {label.shape} != output grid {self.layout.output}")
        if len(regularizers) != len(self.layout.sizes):
            raise ValueError("one regulariser per layer")
        self.params = params or SolverParams()
        self.label = label.astype(np.complex64)
        self.regularizers = list(regularizers)
        self.label_crops = [self.layout.crop(self.label, i) for i in range(self.n_layers)]
        self._col_weights = [half_weights(q) for _, q in self.layout.sizes]
        self.filters: list[np.ndarray] | None = None
        self.projections: list[np.ndarray] | None = None
        self._cg_state: CGState | None = None

    @property
    def n_layers(self) -> int:
        return len(self.layout.sizes)

    # -- applying ---------------------------------------------------------------------------
    def scores(
        self, zf: Sequence[np.ndarray], filters: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Score coefficients (``(..., rows, cols)`` on the output grid) of samples ``zf``
        under this filter (or under ``filters`` of the same shapes, e.g. an earlier copy)."""
        filters = self.filters if filters is None else filters
        if filters is None:
            raise RuntimeError("learn the filter before asking for scores")
        return self.layout.pad_sum([(f * z).sum(axis=-3) for f, z in zip(filters, zf, strict=True)])

    def project(self, xf: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Projected coefficients ``P_l^T x_l`` of full-dimensional layer spectra ``(D, r, q)``."""
        if self.projections is None:
            raise RuntimeError("no projection matrices yet")
        return [project_channels(p, x) for p, x in zip(self.projections, xf, strict=True)]

    # -- shared pieces ----------------------------------------------------------------------
    def _filter_precond(self, sample_energy: Sequence[np.ndarray]) -> list[np.ndarray]:
        p = self.params
        return [
            (1 - p.precond_reg)
            * (p.precond_data * e + (1 - p.precond_data) * e.mean(axis=0, keepdims=True))
            + p.precond_reg * reg.energy
            for e, reg in zip(sample_energy, self.regularizers, strict=True)
        ]

    # -- first frame: joint filter and projection -------------------------------------------
    def train_joint(
        self,
        xf: Sequence[np.ndarray],
        projections: Sequence[np.ndarray],
        sample_energy: Sequence[np.ndarray],
    ) -> list[float]:
        """Gauss-Newton on (filter, projection) from one sample ``xf`` (per layer ``(D, r, q)``).

        ``projections``: initial ``(D_l, C_l)`` matrices (PCA); ``sample_energy``: per layer
        ``(C_l, r, q)`` for the preconditioner. Returns the residual norm after each step.
        """
        p = self.params
        n = self.n_layers
        xf = [np.asarray(x, dtype=np.complex64) for x in xf]
        proj = [np.asarray(m, dtype=np.float32).copy() for m in projections]
        filters = [
            np.zeros((m.shape[1], *x.shape[-2:]), np.complex64)
            for m, x in zip(proj, xf, strict=True)
        ]
        xh_w = [
            (np.conj(x) * w).reshape(x.shape[0], -1)
            for x, w in zip(xf, self._col_weights, strict=True)
        ]  # for the projection block's adjoint: sum over the full spectrum
        diag_f = self._filter_precond(sample_energy)
        label_energy = 2.0 * float(np.sum(np.abs(self.label) ** 2))
        proj_energy = label_energy / sum(x.shape[0] for x in xf)
        diag_p = [
            np.full(m.shape, p.precond_proj * (proj_energy + p.projection_reg), np.float32)
            for m in proj
        ]
        lam = np.float32(p.projection_reg)
        residuals = []
        for _ in range(p.init_gn_iter):
            problem = JointProblem(self, xf, xh_w, proj, filters, diag_f + diag_p, lam)
            x0 = filters + [np.zeros_like(m) for m in proj]
            sol, _, res = solve(
                problem, x0, p.init_cg_iter, fletcher_reeves=True, track_residuals=True
            )
            filters = [symmetrize(f) for f in sol[:n]]
            proj = [(m + dp).astype(np.float32) for m, dp in zip(proj, sol[n:], strict=True)]
            residuals.append(res[-1])
        self.filters, self.projections = filters, proj
        self._cg_state = None
        return residuals

    # -- later frames: filter only, warm-started ---------------------------------------------
    def train(
        self,
        samples: Sequence[np.ndarray],
        weights: np.ndarray,
        sample_energy: Sequence[np.ndarray],
        iterations: int | None = None,
    ) -> None:
        """A few CG iterations on the filter, from the current one, over weighted samples.

        ``samples``: per layer ``(M, C_l, r, q)`` projected sample coefficients; ``weights``:
        their ``M`` prior weights.
        """
        if self.filters is None:
            raise RuntimeError("train_joint (or set filters) before train")
        p = self.params
        problem = FilterProblem(self, samples, weights, self._filter_precond(sample_energy))
        filters, self._cg_state, _ = solve(
            problem,
            self.filters,
            iterations if iterations is not None else p.cg_iter,
            state=self._cg_state,
            forget=p.cg_forget,
            fletcher_reeves=p.fletcher_reeves,
        )
        self.filters = [symmetrize(f) for f in filters]


# -- the normal equations as problems for CG ----------------------------------------------------


def _filter_inner(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Inner product of filters over the full spectrum (half layout, columns weighted)."""
    return sum(half_inner(x, y) for x, y in zip(a, b, strict=True))


class FilterProblem:
    """The filter's normal equations over weighted projected samples (later frames).

    ``samples``: per layer ``(M, C_l, r, q)``; ``weights``: their ``M`` prior weights;
    ``diag``: the preconditioner's per-layer diagonal.
    """

    def __init__(
        self,
        owner: ECOFilter,
        samples: Sequence[np.ndarray],
        weights: np.ndarray,
        diag: Sequence[np.ndarray],
    ) -> None:
        self.layout = owner.layout
        self.regularizers = owner.regularizers
        self.samples = samples
        w = np.asarray(weights, dtype=np.float32)
        self._wb = w[:, None, None]
        self._samples_c = [np.conj(s) for s in samples]
        # Right-hand side: conj(weighted mean sample) * label
        self._rhs = [
            np.tensordot(w, sc, axes=(0, 0)) * y
            for sc, y in zip(self._samples_c, owner.label_crops, strict=True)
        ]
        # A product with the inverse: numpy divides complex by real arrays ~10x slower.
        self._inv_diag = [np.reciprocal(d) for d in diag]

    def rhs(self) -> Vector:
        return self._rhs

    def apply(self, fs: Vector) -> Vector:
        sh = self.layout.pad_sum(
            [(s * f).sum(axis=1) for s, f in zip(self.samples, fs, strict=True)]
        )
        sh *= self._wb
        return [
            (sc * self.layout.crop(sh, i)[:, None]).sum(axis=0) + reg.apply(f)
            for i, (sc, f, reg) in enumerate(
                zip(self._samples_c, fs, self.regularizers, strict=True)
            )
        ]

    def inner(self, a: Vector, b: Vector) -> float:
        return _filter_inner(a, b)

    def precondition(self, v: Vector) -> Vector:
        return [x * d for x, d in zip(v, self._inv_diag, strict=True)]


class JointProblem:
    """One Gauss-Newton step of the first frame: filter and projection increments together,
    linearised at filters ``f0`` and projections ``proj`` (vectors: filters, then matrices).

    ``xh_w``: per layer the conjugate full-dimensional sample, column-weighted and flattened
    (for the projection block's adjoint, a sum over the full spectrum).
    """

    def __init__(
        self,
        owner: ECOFilter,
        xf: Sequence[np.ndarray],
        xh_w: Sequence[np.ndarray],
        proj: Sequence[np.ndarray],
        f0: Sequence[np.ndarray],
        diag: Sequence[np.ndarray],
        lam: np.float32,
    ) -> None:
        self.layout = owner.layout
        self.regularizers = owner.regularizers
        self.n = len(xf)
        self.xf, self.xh_w, self.lam = xf, xh_w, lam
        self._inv_diag = [np.reciprocal(d) for d in diag]  # see FilterProblem
        self.z = [project_channels(m, x) for m, x in zip(proj, xf, strict=True)]
        self.f0 = [f.copy() for f in f0]
        self.zc = [np.conj(a) for a in self.z]
        self.f0c = [np.conj(a) for a in self.f0]
        labels = owner.label_crops
        self._rhs = [c * y for c, y in zip(self.zc, labels, strict=True)] + [
            self._p_adjoint(i, labels[i]) - lam * proj[i] for i in range(self.n)
        ]

    def _p_adjoint(self, layer: int, s: np.ndarray) -> np.ndarray:
        g = (self.f0c[layer] * s).reshape(self.f0c[layer].shape[0], -1)
        return (self.xh_w[layer] @ g.T).real

    def rhs(self) -> Vector:
        return self._rhs

    def apply(self, v: Vector) -> Vector:
        n = self.n
        fs, dps = v[:n], v[n:]
        sh = self.layout.pad_sum([(a * f).sum(axis=0) for a, f in zip(self.z, fs, strict=True)])
        bp = self.layout.pad_sum(
            [
                (x * project_channels(dp.T, f).reshape(x.shape)).sum(axis=0)
                for x, dp, f in zip(self.xf, dps, self.f0, strict=True)
            ]
        )
        s = sh + bp
        out_f, out_p = [], []
        for i in range(n):
            si = self.layout.crop(s, i)
            out_f.append(self.zc[i] * si + self.regularizers[i].apply(fs[i]))
            out_p.append(self._p_adjoint(i, si) + self.lam * dps[i])
        return out_f + out_p

    def inner(self, a: Vector, b: Vector) -> float:
        n = self.n
        return _filter_inner(a[:n], b[:n]) + float(
            sum(np.vdot(x, y).real for x, y in zip(a[n:], b[n:], strict=True))
        )

    def precondition(self, v: Vector) -> Vector:
        return [x * d for x, d in zip(v, self._inv_diag, strict=True)]


def project_channels(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``P^T x`` over the channel axis: ``(D, C)`` and ``(D, ...)`` -> ``(C, ...)``.

    Works on feature maps and on their spectra alike (the projection is linear).
    """
    d = x.shape[0]
    return (p.T.astype(np.float32, copy=False) @ x.reshape(d, -1)).reshape(p.shape[1], *x.shape[1:])
