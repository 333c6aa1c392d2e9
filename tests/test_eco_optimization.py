"""Conjugate gradient on block vectors: solves known systems, preconditioned and warm-started."""

import numpy as np
import pytest

from cftrack_cli.cf.optimization import conjugate_gradient, plain_inner


def _system(seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.logspace(0, 3, n)) @ q.T  # SPD, condition number 1000
    x_true = rng.normal(size=n)
    return a, x_true, a @ x_true


def _blocks(v: np.ndarray) -> list[np.ndarray]:
    return [v[:25].copy(), v[25:].copy()]


def _join(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks)


def test_cg_solves_a_known_system():
    a, x_true, b = _system()
    x, _, res = conjugate_gradient(
        lambda v: _blocks(a @ _join(v)),
        _blocks(b),
        _blocks(np.zeros_like(b)),
        max_iter=200,
        tol=1e-10,
    )
    np.testing.assert_allclose(_join(x), x_true, rtol=1e-6, atol=1e-6)
    assert res[-1] < 1e-9 * np.linalg.norm(b)


@pytest.mark.parametrize("fletcher_reeves", [True, False])
def test_a_good_preconditioner_converges_faster(fletcher_reeves):
    rng = np.random.default_rng(1)
    n = 40
    diag = np.logspace(0, 4, n)
    off = rng.normal(size=(n, n)) * 0.01
    a = np.diag(diag) + off @ off.T  # diagonally dominant, badly scaled
    x_true = rng.normal(size=n)
    b = a @ x_true

    def solve(precondition):
        x, _, _ = conjugate_gradient(
            lambda v: _blocks(a @ _join(v)),
            _blocks(b),
            _blocks(np.zeros(n)),
            max_iter=8,
            precondition=precondition,
            fletcher_reeves=fletcher_reeves,
        )
        return np.linalg.norm(_join(x) - x_true)

    inv = _blocks(1.0 / np.diag(a))
    with_jacobi = solve(lambda v: [x * d for x, d in zip(v, inv, strict=True)])
    assert with_jacobi < 1e-4
    assert with_jacobi < 0.01 * solve(None)


def test_warm_start_continues_where_it_stopped():
    a, x_true, b = _system(2)

    def apply(v):
        return _blocks(a @ _join(v))

    zero = _blocks(np.zeros_like(b))
    x_once, _, _ = conjugate_gradient(apply, _blocks(b), zero, max_iter=10)
    x1, state, _ = conjugate_gradient(apply, _blocks(b), zero, max_iter=5)
    x2, _, _ = conjugate_gradient(apply, _blocks(b), x1, max_iter=5, state=state)
    cold, _, _ = conjugate_gradient(apply, _blocks(b), x1, max_iter=5)
    err_warm = np.linalg.norm(_join(x2) - x_true)
    # With the carried direction (forget = 1) two halves equal one run of 10 iterations.
    assert err_warm == pytest.approx(np.linalg.norm(_join(x_once) - x_true), rel=1e-6)
    assert err_warm < np.linalg.norm(_join(cold) - x_true)


def test_complex_blocks_and_plain_inner_product():
    rng = np.random.default_rng(3)
    n = 12
    m = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    a = m @ m.conj().T + n * np.eye(n)  # Hermitian positive definite
    x_true = rng.normal(size=n) + 1j * rng.normal(size=n)
    b = a @ x_true
    x, _, _ = conjugate_gradient(
        lambda v: [a @ v[0]], [b], [np.zeros(n, complex)], max_iter=50, inner=plain_inner
    )
    np.testing.assert_allclose(x[0], x_true, atol=1e-8)
