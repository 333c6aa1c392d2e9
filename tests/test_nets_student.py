"""Students: spec -> shapes and strides, width scaling, MAC counts, alignment with the teacher."""

from __future__ import annotations

import pytest
import torch

from cftrack_cli.nets.cf_vggm import cf_vggm_spec
from cftrack_cli.nets.layers import ChannelLRN, count_spec_parameters, normalise_spec, spec_taps
from cftrack_cli.nets.student import (
    DEFAULT_STUDENT_TAPS,
    StudentNet,
    count_macs,
    count_parameters,
    vgg16_student_spec,
)
from cftrack_cli.nets.teacher import VGG16_TAP_STRIDES, VGG16Features

TINY = [
    {"type": "conv", "name": "a", "out": 4, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "tap", "name": "t1"},
    {"type": "maxpool", "kernel": 2, "stride": 2},
    {"type": "conv", "name": "b", "out": 2, "kernel": 3},
    {"type": "tap", "name": "t2"},
    {"type": "conv", "name": "c", "out": 5, "kernel": 4, "stride": 2, "pad": [0, 1, 0, 1]},
    {"type": "tap", "name": "t3"},
]


def test_mac_count_matches_a_hand_count():
    # 8x8 input: a 3->4 3x3 same conv at 8x8; pool to 4x4; b 4->2 3x3 valid -> 2x2;
    # c 2->5 4x4 stride 2 padded bottom/right -> floor((2 + 1 - 4) / 2) + 1 = 0: too small.
    hand = 8 * 8 * 3 * 4 * 9 + 2 * 2 * 4 * 2 * 9
    assert count_macs(TINY[:6], (8, 8)) == hand
    with pytest.raises(ValueError, match="too small"):
        count_macs(TINY, (8, 8))
    # 12x12: a at 12x12, pool 6x6, b 4x4, c floor((4 + 1 - 4) / 2) + 1 = 1x1.
    hand = 12 * 12 * 3 * 4 * 9 + 4 * 4 * 4 * 2 * 9 + 1 * 1 * 2 * 5 * 16
    assert count_macs(TINY, (12, 12)) == hand
    net = StudentNet(TINY)
    assert count_macs(net, (12, 12)) == hand
    assert count_macs(net, (12, 12), ["t1"]) == 12 * 12 * 3 * 4 * 9
    assert count_parameters(net) == (3 * 4 * 9 + 4) + (4 * 2 * 9 + 2) + (2 * 5 * 16 + 5)
    assert count_spec_parameters(normalise_spec(TINY)) == count_parameters(net)


def test_spec_shapes_and_strides_by_running():
    net = StudentNet(TINY).eval()
    with torch.inference_mode():
        out = net(torch.randn(2, 3, 12, 14))
    assert out["t1"].shape == (2, 4, 12, 14)
    assert out["t2"].shape == (2, 2, 4, 5)
    assert out["t3"].shape == (2, 5, 1, 2)
    taps = net.taps
    assert [taps[t].stride for t in ("t1", "t2", "t3")] == [1, 2, 4]
    assert net.output_size("t3", (12, 14)) == (1, 2)


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="type"):
        StudentNet([{"type": "dropout"}])
    with pytest.raises(ValueError, match="twice"):
        StudentNet([*TINY, {"type": "tap", "name": "t1"}])
    with pytest.raises(ValueError, match="unknown fields"):
        StudentNet([{"type": "relu", "inplace": True}, {"type": "tap", "name": "x"}])
    with pytest.raises(ValueError, match="no taps"):
        StudentNet(TINY[:2])
    with pytest.raises(ValueError, match="both axes"):
        normalise_spec([{"type": "maxpool", "kernel": 3, "pad": [0, 1, 1, 0]}])


def test_default_student_taps_align_with_the_teacher():
    student = StudentNet(vgg16_student_spec()).eval()
    teacher = VGG16Features().eval()
    assert list(student.taps) == list(DEFAULT_STUDENT_TAPS)
    for name, info in student.taps.items():
        t = teacher.tap_info(name)
        assert (info.stride, info.offset) == (t.stride, t.offset) == (VGG16_TAP_STRIDES[name], 0)
    for size in ((200, 200), (203, 187), (256, 256)):
        x = torch.randn(1, 3, *size)
        with torch.inference_mode():
            s_out = student(x)
            t_out = teacher(x, list(student.taps))
        for name in student.taps:
            assert s_out[name].shape[2:] == t_out[name].shape[2:], (name, size)
            assert s_out[name].shape[1] == round(t_out[name].shape[1] / 8)


def test_student_taps_follow_the_requested_teacher_taps():
    spec = vgg16_student_spec(0.125, taps=("pool1", "conv5_3", "conv4_1"))
    taps = spec_taps(spec)
    assert {n: t.stride for n, t in taps.items()} == {"pool1": 2, "conv4_1": 8, "conv5_3": 16}
    shallow = vgg16_student_spec(0.125, taps=("conv2_2",))
    assert sum(e["type"] == "conv" for e in shallow) == 1  # nothing past the deepest tap
    with pytest.raises(ValueError, match="stride-1"):
        vgg16_student_spec(taps=("conv1_2",))
    with pytest.raises(ValueError, match="not VGG16 taps"):
        vgg16_student_spec(taps=("relu5",))


def test_deep_convs_widen_the_stride_16_view_and_keep_the_taps_aligned():
    plain = StudentNet(vgg16_student_spec(0.0625))
    deeper = StudentNet(vgg16_student_spec(0.0625, deep_convs=3))
    assert plain.tap_info("conv5_3").receptive_field == 90
    assert deeper.tap_info("conv5_3").receptive_field == 90 + 2 * 32
    for tap in plain.taps:
        a, b = plain.tap_info(tap), deeper.tap_info(tap)
        assert (a.stride, a.offset, a.channels) == (b.stride, b.offset, b.channels)
    # Two 32->32 3x3 convs at 1/16 resolution: a few percent more multiply-adds.
    extra = count_macs(deeper, (256, 256)) - count_macs(plain, (256, 256))
    assert extra == 2 * 9 * 32 * 32 * 16 * 16
    with torch.inference_mode():
        out = deeper.eval()(torch.randn(1, 3, 64, 64), ["conv5_3"])
    assert out["conv5_3"].shape == (1, 32, 4, 4)
    with pytest.raises(ValueError, match="deep_convs"):
        vgg16_student_spec(deep_convs=0)


def test_width_scales_parameters_quadratically():
    small = count_parameters(StudentNet(vgg16_student_spec(0.125)))
    full = count_parameters(StudentNet(vgg16_student_spec(1.0)))
    # ~64x: every layer but the first (3 input channels) and the biases shrinks by 8 x 8.
    assert 60 < full / small < 64.5
    half = count_parameters(StudentNet(vgg16_student_spec(0.25)))
    assert 3.8 < half / small < 4.01


def test_default_student_cost_is_a_small_fraction_of_the_teacher():
    teacher_macs = VGG16Features().macs((200, 200), ["conv4_3"])
    student_macs = count_macs(StudentNet(vgg16_student_spec(0.125)), (200, 200))
    assert 20e6 <= student_macs <= 60e6
    assert student_macs * 30 <= teacher_macs


def test_forward_stops_after_the_deepest_requested_tap():
    net = StudentNet(vgg16_student_spec(0.125)).eval()
    calls = []
    net.conv3.register_forward_hook(lambda *a: calls.append("conv3"))
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 64, 64), ["conv2_2"])
    assert list(out) == ["conv2_2"] and calls == []


def test_cf_vggm_geometry_by_spec_and_by_running():
    net = StudentNet(cf_vggm_spec()).eval()
    assert count_parameters(net) == 103_760  # as the paper's authors report
    strides = {n: t.stride for n, t in net.taps.items()}
    assert strides == {
        "relu1": 2,
        "norm1": 2,
        "pool1": 4,
        "relu2": 8,
        "norm2": 8,
        "pool2": 16,
        "relu3": 16,
        "relu4": 16,
        "relu5": 16,
    }
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 224, 224))
    sizes = {n: tuple(v.shape[2:]) for n, v in out.items()}
    assert sizes["norm1"] == (109, 109)  # (224 - 7) // 2 + 1
    assert sizes["pool1"] == (54, 54)
    assert sizes["norm2"] == (26, 26)
    assert sizes["pool2"] == sizes["relu5"] == (13, 13)
    assert net.taps["norm1"].offset == 2.5 and net.taps["relu5"].offset == 9.5


def test_offsets_match_measured_receptive_field_centres():
    # The CF-VGGM geometry with average pools (same windows as its max pools, but every input
    # pixel of a window gets gradient): the receptive field found by backpropagating from one
    # cell is centred where the spec arithmetic says.
    spec = [
        {"type": "conv", "name": "c1", "out": 1, "kernel": 7, "stride": 2},
        {"type": "tap", "name": "s2"},
        {"type": "avgpool", "kernel": 3, "stride": 2, "pad": [0, 1, 0, 1]},
        {"type": "conv", "name": "c2", "out": 1, "kernel": 5, "stride": 2, "pad": 1},
        {"type": "tap", "name": "s8"},
        {"type": "conv", "name": "c3", "out": 1, "kernel": 4, "stride": 2, "pad": 1},
        {"type": "tap", "name": "s16"},
    ]
    net = StudentNet(spec)
    for p in net.parameters():
        torch.nn.init.constant_(p, 1.0)
    for name, info in net.taps.items():
        x = torch.ones(1, 3, 160, 160, requires_grad=True)
        out = net(x, [name])[name]
        i = out.shape[2] // 2
        out[0, 0, i, i].backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
        centre = (rows.min().item() + rows.max().item() + 1) / 2.0
        assert centre == info.offset + info.stride * (i + 0.5), name
        assert rows.max().item() - rows.min().item() + 1 == info.receptive_field, name


@pytest.mark.parametrize("size", [5, 4])
def test_channel_lrn_equals_torch_local_response_norm(size):
    torch.manual_seed(0)
    x = torch.randn(2, 12, 9, 7) * 40  # the scale of conv1 outputs on 0..255 input
    ours = ChannelLRN(12, size, alpha=5e-4, beta=0.75, k=2.0)
    ref = torch.nn.LocalResponseNorm(size, alpha=5e-4, beta=0.75, k=2.0)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    assert not ours.state_dict()  # derived from the spec, not stored in weight files
