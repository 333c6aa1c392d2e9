"""Preconditioned conjugate gradient on block vectors (lists of arrays), warm-startable.

ECO solves its normal equations ``A x = b`` with a few CG iterations per update and carries the
last search direction over to the next update, damped by a forgetting factor, so that sparse
updates keep converging across frames instead of restarting. Vectors are lists of numpy
arrays (one per feature layer, plus projection matrices for the joint problem); the inner
product is supplied by the caller because half-layout spectra weigh their columns unequally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Vector = list[np.ndarray]
Operator = Callable[[Vector], Vector]
InnerProduct = Callable[[Vector, Vector], float]


def axpy(alpha: float, x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> Vector:
    """``y + alpha * x`` blockwise."""
    return [b + a * np.asarray(alpha, dtype=a.real.dtype) for a, b in zip(x, y, strict=True)]


def sub(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> Vector:
    return [a - b for a, b in zip(x, y, strict=True)]


def plain_inner(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> float:
    """Real part of the Euclidean inner product over all blocks."""
    return float(sum(np.vdot(a, b).real for a, b in zip(x, y, strict=True)))


class LinearProblem(Protocol):
    """A Hermitian positive-definite system ``A x = b`` as :func:`solve` takes it: the
    operator, the right-hand side, the inner product of its vectors and a preconditioner."""

    def apply(self, x: Vector) -> Vector:
        """``A x``."""

    def rhs(self) -> Vector:
        """``b``."""

    def inner(self, x: Vector, y: Vector) -> float:
        """The inner product ``A`` is Hermitian in."""

    def precondition(self, r: Vector) -> Vector:
        """An approximation of ``A^-1 r``."""


@dataclass
class CGState:
    """What a warm start carries to the next solve: search direction and residual products."""

    p: Vector
    rho: float
    r_prev: Vector | None


def conjugate_gradient(
    apply_a: Operator,
    b: Vector,
    x0: Vector,
    max_iter: int,
    inner: InnerProduct = plain_inner,
    precondition: Operator | None = None,
    state: CGState | None = None,
    forget: float = 1.0,
    fletcher_reeves: bool = True,
    tol: float = 0.0,
    track_residuals: bool = False,
) -> tuple[Vector, CGState | None, list[float]]:
    """Approximately solve ``A x = b`` (A Hermitian positive definite) from ``x0``.

    ``state`` from a previous call continues that search direction; ``forget`` in (0, 1]
    shrinks its influence (ECO: ``(1 - learning_rate) ** 50``). Polak-Ribiere
    (``fletcher_reeves=False``) copes better when ``A`` and ``b`` changed since the state was
    saved. Stops early when the residual norm falls below ``tol`` times that of ``b``.
    Returns the solution, the state to warm-start the next call, and the residual norms
    (computed only when ``tol > 0`` or ``track_residuals``: they cost an inner product each).
    """
    x = list(x0)
    p: Vector | None = None
    rho = 1.0
    r_prev: Vector | None = None
    if state is not None and forget > 0:
        p, rho = state.p, state.rho / forget
        r_prev = None if fletcher_reeves else state.r_prev
    r = sub(b, apply_a(x))
    norms = tol > 0 or track_residuals
    b_norm = np.sqrt(max(inner(b, b), 0.0)) if tol > 0 else 0.0
    residuals = [float(np.sqrt(max(inner(r, r), 0.0)))] if norms else []
    for _ in range(max_iter):
        if tol > 0 and residuals[-1] <= tol * b_norm:
            break
        z = precondition(r) if precondition is not None else r
        rho_prev, rho = rho, inner(r, z)
        if rho == 0 or not np.isfinite(rho):
            break
        if p is None:
            p = z
        else:
            if fletcher_reeves or r_prev is None:
                beta = rho / rho_prev
            else:
                beta = (rho - inner(r_prev, z)) / rho_prev
            if beta == 0 or not np.isfinite(beta):
                break
            p = axpy(max(0.0, beta), p, z)
        q = apply_a(p)
        pq = inner(p, q)
        if pq <= 0 or not np.isfinite(pq):
            break
        alpha = rho / pq
        if not fletcher_reeves:
            r_prev = r
        x = axpy(alpha, p, x)
        r = axpy(-alpha, q, r)
        if norms:
            residuals.append(float(np.sqrt(max(inner(r, r), 0.0))))
    new_state = CGState(p, rho, r_prev) if p is not None else None
    return x, new_state, residuals


def solve(
    problem: LinearProblem, x0: Vector, max_iter: int, **cg_options: Any
) -> tuple[Vector, CGState | None, list[float]]:
    """:func:`conjugate_gradient` on a :class:`LinearProblem`; ``cg_options`` are its keyword
    arguments (state, forget, fletcher_reeves, tol, track_residuals), the result is its result."""
    return conjugate_gradient(
        problem.apply,
        problem.rhs(),
        x0,
        max_iter,
        inner=problem.inner,
        precondition=problem.precondition,
        **cg_options,
    )
