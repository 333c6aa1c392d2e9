"""How many threads torch, OpenCV and numpy's BLAS may use.

cftrack runs on one thread unless told otherwise: one core is the product's promise, and a busy
machine does not slow a single-threaded tracker by an order of magnitude the way idle-spinning
thread pools do. More threads go to torch (the network, the FFTs of feature stacks) and OpenCV,
whose results do not depend on the thread count (measured: identical boxes; the FFTs bit for bit
at 1, 2 and 4 threads). numpy's BLAS stays on one thread whatever is asked: a multi-threaded
OpenBLAS sums ECO's small solver products in another order, which moved a box by 14 px within 60
frames of ``samples/bag.avi``, and those products are too small to gain from threads. So
``track``, ``eval`` and ``bench`` give the same boxes at any thread count, and so does a program
that calls a tracker's ``init`` and ``update`` with BLAS pools of its own: they run in
:func:`one_blas_thread` (without it, ``eco-student``'s scores on a dev sequence differed by 0.05
within 25 frames between one and two OpenBLAS threads).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

#: Variables that size the BLAS pools of processes started afterwards (always 1, see above).
BLAS_ENV = (
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
#: ... and the OpenMP pool (torch's), sized like torch.
OMP_ENV = "OMP_NUM_THREADS"
THREAD_ENV = (OMP_ENV, *BLAS_ENV)


def set_library_threads(n: int) -> None:
    """Size torch's and OpenCV's thread pools to ``n`` and BLAS's to 1, for this process and
    the processes it starts."""
    if n < 1:
        raise ValueError("thread count must be at least 1")
    os.environ.update(dict.fromkeys(BLAS_ENV, "1"))
    os.environ[OMP_ENV] = str(n)
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(n)
    threadpool_limits(1, user_api="blas")
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(n)


@contextlib.contextmanager
def library_threads(n: int) -> Iterator[None]:
    """:func:`set_library_threads` inside the block; the earlier sizes restored after."""
    import cv2
    from threadpoolctl import threadpool_limits

    saved_env = {k: os.environ.get(k) for k in THREAD_ENV}
    cv_threads = cv2.getNumThreads()
    torch_threads = None
    with contextlib.suppress(ImportError):
        import torch

        torch_threads = torch.get_num_threads()
    try:
        with threadpool_limits(1, user_api="blas"):  # restores the BLAS pools on exit
            set_library_threads(n)
            yield
    finally:
        cv2.setNumThreads(cv_threads)
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@functools.cache
def _blas_pools() -> Any:
    """This process's BLAS pools, found once (finding them takes ~0.3 ms; limiting, ~12 us)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside the block, the caller's pools as they were after: a tracker's
    ``init`` and ``update`` run in it, so a program that calls them with a multi-threaded
    OpenBLAS gets the boxes ``track`` and ``eval`` give (see the module notes)."""
    with _blas_pools().limit(limits=1):
        yield
