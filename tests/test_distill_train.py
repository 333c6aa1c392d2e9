"""The distillation loop on a tiny random teacher: learning, determinism, resume, DDP, cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from cftrack_cli.distill.data import discover_sources
from cftrack_cli.distill.reporting import DistillInterrupted
from cftrack_cli.distill.teacher_cache import fit_stats
from cftrack_cli.distill.train import (
    DistillConfig,
    distill,
    epoch_order,
    lr_at,
    read_distill_checkpoint,
)
from cftrack_cli.errors import UsageError
from cftrack_cli.nets.weights import load_student
from distill_helpers import ddp_worker, free_port, make_corpus, tiny_config, tiny_teacher


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("distill") / "corpus")


@pytest.fixture(scope="module")
def sources(corpus):
    return discover_sources([corpus])


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One teacher cache for the tests that do not test the cache itself."""
    return tmp_path_factory.mktemp("cache")


def run(config, sources, out: Path, cache: Path, **kw):
    return distill(config, tiny_teacher(), sources, out, cache_dir=cache, device="cpu", **kw)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return dict(load_student(path)[0].state_dict())


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def log_lines(path: Path, event: str) -> list[dict]:
    return [d for d in map(json.loads, path.read_text().splitlines()) if d["event"] == event]


def test_both_losses_go_down(tmp_path, sources, shared_cache):
    cfg = tiny_config(epochs=6, tracking_weight=1.0)
    result = run(cfg, sources, tmp_path / "s.pth", shared_cache, log_every=1)
    steps = log_lines(result.log, "step")
    assert len(steps) == 6 * 8
    for part in ("fidelity", "tracking"):
        first = np.mean([s[part] for s in steps[:8]])
        last = np.mean([s[part] for s in steps[-8:]])
        assert last < 0.85 * first, (part, first, last)
    assert result.status == "done" and result.out is not None and result.out.is_file()


def test_same_seed_same_weights(tmp_path, sources, shared_cache):
    a = run(tiny_config(), sources, tmp_path / "a.pth", shared_cache)
    b = run(tiny_config(), sources, tmp_path / "b.pth", shared_cache)
    c = run(tiny_config(seed=1), sources, tmp_path / "c.pth", shared_cache)
    assert_same(weights(a.out), weights(b.out))
    wa, wc = weights(a.out), weights(c.out)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_stop_and_resume_equals_uninterrupted(tmp_path, sources, shared_cache):
    cfg = tiny_config()
    full = run(cfg, sources, tmp_path / "full.pth", shared_cache)
    # Stopped mid-epoch (8 steps per epoch) by max_steps: a checkpoint, no student file.
    part = run(cfg, sources, tmp_path / "part.pth", shared_cache, max_steps=11)
    assert part.status == "stopped" and part.steps == 11
    assert not (tmp_path / "part.pth").exists() and part.checkpoint.is_file()
    ckpt = read_distill_checkpoint(part.checkpoint)
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, 3, 11)
    resumed = run(cfg, sources, tmp_path / "part.pth", shared_cache, resume=part.checkpoint)
    assert resumed.steps == full.steps == 24
    assert_same(weights(full.out), weights(resumed.out))
    assert [d["event"] for d in map(json.loads, resumed.log.read_text().splitlines())].count(
        "resume"
    ) == 1


class StopAt:
    """A Ctrl-C stand-in: ``requested`` turns true once ``n`` training steps are reported."""

    def __init__(self, n: int) -> None:
        self.n, self.done, self.requested = n, 0, False

    def stage(self, name, total):
        pass

    def message(self, text):
        pass

    def advance(self, n=1, **fields):
        if "fidelity" in fields:
            self.done += n
            self.requested = self.done >= self.n


def test_interrupt_leaves_a_checkpoint_that_resumes_exactly(tmp_path, sources, shared_cache):
    cfg = tiny_config()
    full = run(cfg, sources, tmp_path / "full.pth", shared_cache)
    flag = StopAt(5)
    with pytest.raises(DistillInterrupted, match="--resume"):
        run(cfg, sources, tmp_path / "x.pth", shared_cache, stop=flag, reporter=flag)
    assert not (tmp_path / "x.pth").exists()
    assert not list(tmp_path.glob(".*partial"))
    ckpt = tmp_path / "x.ckpt"
    # Raised while step 5 was reported: seen at the end of step 6, the next safe point.
    assert read_distill_checkpoint(ckpt)["step"] == 6
    resumed = run(cfg, sources, tmp_path / "x.pth", shared_cache, resume=ckpt)
    assert_same(weights(full.out), weights(resumed.out))


def test_resume_refuses_other_settings_and_other_files(tmp_path, sources, shared_cache):
    cfg = tiny_config()
    part = run(cfg, sources, tmp_path / "p.pth", shared_cache, max_steps=2)
    with pytest.raises(UsageError, match=r"lr 0\.003 -> 0\.001"):
        run(
            replace(cfg, lr=1e-3), sources, tmp_path / "p.pth", shared_cache, resume=part.checkpoint
        )
    done = run(cfg, sources, tmp_path / "d.pth", shared_cache)
    with pytest.raises(UsageError, match="not a cftrack distill checkpoint"):
        run(cfg, sources, tmp_path / "p.pth", shared_cache, resume=done.out)
    with pytest.raises(UsageError, match="no such checkpoint"):
        run(cfg, sources, tmp_path / "p.pth", shared_cache, resume=tmp_path / "missing.ckpt")


def test_saved_student_says_how_it_was_made(tmp_path, sources, shared_cache):
    result = run(tiny_config(), sources, tmp_path / "s.pth", shared_cache)
    net, meta = load_student(result.out)
    assert not any("adapter" in k for k in net.state_dict())  # adapters are dropped
    assert {"conv3_3", "conv5_3"} <= set(net.taps)
    assert meta["width"] == 0.0625
    assert meta["preprocessing"]["name"] == "caffe"
    assert meta["teacher"]["sha256_prefix"]
    training = meta["training"]
    assert DistillConfig.from_dict(training["settings"]) == tiny_config()
    assert training["data"]["images"] == 3 and training["data"]["sequences"] == 1
    assert training["steps"] == 24
    assert set(meta["metrics"]["final_losses"]) >= {"fidelity", "tracking", "total"}
    assert meta["created"] and meta["code_version"]
    assert result.out.stat().st_size < 2_000_000


def test_teacher_cache_is_reused(tmp_path, sources):
    teacher = tiny_teacher()
    calls = []
    teacher.net.register_forward_hook(lambda *_: calls.append(1))
    cfg = tiny_config(epochs=1)
    cache = tmp_path / "cache"
    first = distill(cfg, teacher, sources, tmp_path / "a.pth", cache_dir=cache, device="cpu")
    assert first.timings["teacher_crops"] == 2 * cfg.n_pairs and len(calls) > 0
    chunks = sorted(first.cache.glob("chunk-*.pt"))
    stamps = [p.stat().st_mtime_ns for p in chunks]
    calls.clear()
    second = distill(cfg, teacher, sources, tmp_path / "b.pth", cache_dir=cache, device="cpu")
    assert second.cache == first.cache
    assert second.timings["teacher_crops"] == 0 and calls == []
    assert [p.stat().st_mtime_ns for p in chunks] == stamps
    assert_same(weights(first.out), weights(second.out))
    # Anything that changes the pairs gives another cache.
    third = distill(replace(cfg, n_pairs=72), teacher, sources, tmp_path / "c.pth", cache_dir=cache)
    assert third.cache != first.cache and third.timings["teacher_crops"] == 144


def test_validation_reports_localisation(tmp_path, sources, shared_cache):
    result = run(tiny_config(epochs=1), sources, tmp_path / "v.pth", shared_cache,
                 val_sources=sources)  # fmt: skip
    for tap in ("conv3_3", "conv5_3"):
        assert 0.0 <= result.val[f"val_loc_ok_{tap}"] <= 1.0
        assert 0.0 <= result.teacher_val[f"teacher_loc_ok_{tap}"] <= 1.0
    assert "val_fidelity" in log_lines(result.log, "epoch")[0]


def test_two_process_ddp(tmp_path, corpus):
    """Two CPU processes (gloo on 127.0.0.1) train one student: identical weights on both
    ranks, and only rank 0 writes the checkpoint, the log and the student file."""
    port = free_port()
    mp.spawn(ddp_worker, args=(2, port, str(corpus), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert_same(r0, r1)
    net, meta = load_student(tmp_path / "ddp.pth")
    assert_same(dict(net.state_dict()), r0)
    assert meta["training"]["world_size"] == 2 and meta["training"]["steps"] == 16
    assert read_distill_checkpoint(tmp_path / "ddp.ckpt")["step"] == 16
    start = log_lines(tmp_path / "ddp.log.jsonl", "start")
    assert len(start) == 1 and start[0]["world_size"] == 2
    epochs = log_lines(tmp_path / "ddp.log.jsonl", "epoch")
    assert epochs[1]["fidelity"] < epochs[0]["fidelity"]  # the ranks really trained


def test_config_checks():
    with pytest.raises(UsageError, match="width"):
        DistillConfig(width=0).validate()
    with pytest.raises(UsageError, match="batch-size"):
        DistillConfig(batch_size=0).validate()
    with pytest.raises(UsageError, match="pca-dims"):
        DistillConfig(pca_dims=(64,)).validate()
    cfg = DistillConfig()
    assert DistillConfig.from_dict(cfg.to_dict()) == cfg


def test_schedule_and_order():
    cfg = DistillConfig(lr=1.0, warmup=0.1, final_lr=0.01)
    lrs = [lr_at(cfg, s, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.01, abs=1e-3) and lrs[50] > lrs[90]
    assert np.array_equal(epoch_order(3, 1, 50), epoch_order(3, 1, 50))
    assert not np.array_equal(epoch_order(3, 1, 50), epoch_order(3, 2, 50))


def test_pca_keeps_the_strongest_directions():
    g = torch.Generator().manual_seed(0)
    # 6 channels driven by 2 latent signals plus a little noise: 2 dims hold nearly everything.
    latent = torch.randn(40, 2, 5, 5, generator=g)
    mix = torch.randn(6, 2, generator=g)
    raw = torch.einsum("nlhw,cl->nchw", latent, mix) + 0.01 * torch.randn(40, 6, 5, 5, generator=g)
    stats = fit_stats(raw, 2)
    assert stats.dims == 2 and stats.explained > 0.99
    y = stats.apply(raw)
    assert y.shape == (40, 2, 5, 5)
    assert float(y.pow(2).mean()) == pytest.approx(1.0, rel=1e-3)
    full = fit_stats(raw, 0)
    assert full.basis is None and full.dims == 6
