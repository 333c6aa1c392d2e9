"""Time each tracker network's forward pass in torch's two memory layouts, at the 256-px sample.

In channels-last (NHWC) the CPU kernels handle the student's small channel counts far better
than in NCHW (torch's default). The trackers already run that way: their input comes
channels-last from ``nets/preprocessing.py``, and the convolutions follow the input's layout
(turning the weights channels-last too leaves every box identical). This prints, per network,
the median ms of each layout (interleaved rounds, one thread) and the largest difference
between their maps: what the layout buys. A benchmark, not a test.

    taskset -c 0 .venv/bin/python benchmarks/network_layout.py [STUDENT.pth ...]

The teacher is included when ``CFTRACK_TEACHER_WEIGHTS`` names its weights.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing


def _ms_per_call(net, x, taps: list[str], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        net(x, taps)
    return 1e3 * (time.perf_counter() - start) / calls


def main(argv: list[str]) -> int:
    import torch

    from cftrack_cli.trackers.networks import student_backend, teacher_backend

    torch.set_num_threads(1)
    backends = {"shipped student": student_backend(None, deepest_only=True)[0]}
    for path in argv:
        backends[Path(path).name] = student_backend(path, deepest_only=True)[0]
    if os.environ.get("CFTRACK_TEACHER_WEIGHTS"):
        backends["VGG16 teacher"] = teacher_backend(None, None, deepest_only=True)[0]
    x = torch.randn(1, 3, 256, 256)
    x_last = x.contiguous(memory_format=torch.channels_last)
    for name, backend in backends.items():
        taps = [tap.name for tap in backend.taps]
        plain = backend.net
        last = copy.deepcopy(plain).to(memory_format=torch.channels_last)
        calls = 2 if "teacher" in name else 40
        with torch.inference_mode():
            a, b = plain(x, taps), last(x_last, taps)
            diff = max(float((a[t] - b[t]).abs().max()) for t in taps)
            nchw, nhwc = [], []
            for _ in range(5):  # interleaved, so a drift in the machine's speed hits both
                nchw.append(_ms_per_call(plain, x, taps, calls))
                nhwc.append(_ms_per_call(last, x_last, taps, calls))
        m_plain, m_last = statistics.median(nchw), statistics.median(nhwc)
        print(
            f"{name}: NCHW {m_plain:.2f} ms, channels-last {m_last:.2f} ms "
            f"({m_last / m_plain:.2f}x), maps differ by up to {diff:.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
