"""CNN features behind the FeatureExtractor seam: shapes, sharing one pass, batches, pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.deep import VGG16_ECO_TAPS, Tap, TorchBackend
from cftrack_cli.nets.cf_vggm import cf_vggm_spec
from cftrack_cli.nets.preprocessing import CAFFE_VGG, Preprocessing
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.teacher import VGG16Features


def _student() -> StudentNet:
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.125))
    net.preprocessing = CAFFE_VGG
    return net


def _patches(n: int = 3, h: int = 64, w: int = 72, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _count_forwards(net: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    net.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_shapes_dims_and_cell_sizes():
    feats = TorchBackend(_student(), ["conv2_2", Tap("conv2_2", pool=2), "conv3_3", "conv4_3"])
    layers = feats.layers()
    assert all(isinstance(layer, FeatureExtractor) for layer in layers)
    assert [(la.dim, la.cell_size) for la in layers] == [(16, 2), (16, 4), (32, 4), (64, 8)]
    patches = _patches(h=66, w=75)  # not multiples of the cell sizes
    for layer in layers:
        out = layer.extract(patches)
        assert out.shape == (3, layer.dim, 66 // layer.cell_size, 75 // layer.cell_size)
        assert out.dtype == np.float32 and out.flags.c_contiguous
        assert layer.output_size(66, 75) == out.shape[2:]
        assert layer.offset == 0.0


def test_all_layers_share_one_network_pass():
    net = _student()
    calls = _count_forwards(net)
    feats = TorchBackend(net, ["conv2_2", "conv3_3", Tap("conv3_3", pool=2), "conv4_3"])
    patches = _patches()
    for layer in feats.layers():
        layer.extract(patches)
        layer.extract(patches[None][0])  # a new view of the same pixels: still cached
    assert len(calls) == 1 and feats.forward_count == 1
    patches[0, 0, 0] = 255 - patches[0, 0, 0]  # same buffer, new content: recomputed
    feats.layers()[0].extract(patches)
    assert len(calls) == 2


def test_returned_arrays_are_the_callers_to_keep():
    feats = TorchBackend(_student(), ["conv4_3"])
    layer = feats.layers()[0]
    patches = _patches()
    first = layer.extract(patches)
    keep = first.copy()
    first *= 0.0  # a tracker scaling its features in place
    assert np.array_equal(layer.extract(patches), keep)


def test_batch_matches_one_by_one_and_chunks():
    net = _student()
    patches = _patches(n=5)
    taps = ["conv2_2", "conv4_3"]
    whole = TorchBackend(net, taps).extract_all(patches)
    chunked = TorchBackend(net, taps, max_batch=2).extract_all(patches)
    single = TorchBackend(net, taps)
    for label, batch in whole.items():
        assert batch.shape[0] == 5
        np.testing.assert_allclose(chunked[label], batch, rtol=1e-5, atol=1e-5)
        for i in range(5):
            one = single.layer(label).extract(patches[i : i + 1])
            np.testing.assert_allclose(one[0], batch[i], rtol=1e-4, atol=1e-4)


def test_pooling_averages_aligned_cells():
    feats = TorchBackend(_student(), ["conv2_2", Tap("conv2_2", pool=2)])
    fine, coarse = (layer.extract(_patches(h=60, w=60)) for layer in feats.layers())
    expected = fine.reshape(3, 16, 15, 2, 15, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(coarse, expected, rtol=1e-5, atol=1e-6)
    assert feats.layer("conv2_2/avg2").cell_size == 4


def test_misaligned_network_is_shifted_by_whole_cells():
    torch.manual_seed(0)
    net = StudentNet(cf_vggm_spec())
    prep = Preprocessing("mean_image", mean_image=np.full((224, 224, 3), 120.0, np.float32))
    feats = TorchBackend(net, ["norm1", Tap("norm1", pool=2), "relu5"], prep)
    patches = _patches(n=2, h=200, w=200)
    norm1, pooled, relu5 = (layer.extract(patches) for layer in feats.layers())
    assert norm1.shape == (2, 12, 100, 100)
    assert pooled.shape == (2, 12, 50, 50)
    assert relu5.shape == (2, 64, 12, 12)
    # norm1 cell 0 is centred at 3.5 px: shifted by one cell, 0.5 px left over.
    layer = feats.layer("norm1")
    assert layer.offset == 0.5 and feats.layer("norm1/avg2").offset == 0.5
    raw = feats.raw(patches)["norm1"].numpy()  # (200 - 7) // 2 + 1 = 97 cells
    assert raw.shape[2:] == (97, 97)
    np.testing.assert_array_equal(norm1[:, :, 1:98, 1:98], raw)
    np.testing.assert_array_equal(norm1[:, :, 0], norm1[:, :, 1])  # edges repeated
    np.testing.assert_array_equal(norm1[:, :, 98:], np.repeat(norm1[:, :, 97:98], 2, axis=2))
    # relu5: centre 17.5 px, 16 px cells: one cell of shift, -6.5 px left.
    assert feats.layer("relu5").offset == -6.5
    raw5 = feats.raw(patches)["relu5"].numpy()
    np.testing.assert_array_equal(relu5[:, :, 1:, 1:], raw5[:, :, :11, :11])


def test_teacher_layers_with_default_eco_taps():
    feats = TorchBackend(VGG16Features(), VGG16_ECO_TAPS, CAFFE_VGG)
    out = feats.extract_all(_patches(n=2, h=48, w=40))
    for layer in feats.layers():
        assert out[layer.name].shape == (2, layer.dim, 48 // layer.cell_size, 40 // layer.cell_size)
        assert np.isfinite(out[layer.name]).all()


def test_bad_inputs():
    net = _student()
    with pytest.raises(ValueError, match="preprocessing"):
        TorchBackend(StudentNet(vgg16_student_spec(0.125)), ["conv4_3"])
    with pytest.raises(KeyError, match="conv9_9"):
        TorchBackend(net, ["conv9_9"])
    with pytest.raises(ValueError, match="twice"):
        TorchBackend(net, ["conv4_3", "conv4_3"])
    layer = TorchBackend(net, ["conv4_3"]).layers()[0]
    with pytest.raises(ValueError, match="RGB"):
        layer.extract(np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        layer.extract(np.zeros((1, 4, 4, 3), np.uint8))
    empty = layer.extract(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.shape == (0, 64, 4, 4)
