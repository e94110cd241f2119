from __future__ import annotations

import pytest
import torch

from course_lib import training
from course_lib.compression import masks as mask_layout
from course_lib.compression import pruning, quantization, storage
from course_lib.training import models

# Hand-made weights: rows are output channels with max |w| of 127, 0 and 2.54.
W = torch.tensor([[127.0, -63.4, 0.6],
                  [0.0, 0.0, 0.0],
                  [2.54, -1.26, 0.3]])


def small_cnn(seed: int = 0) -> models.SmallCNN:
    return models.make_model(in_channels=1, num_classes=10, image_size=28, seed=seed)


def images(n: int = 64) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_int8_per_tensor_hand_computed():
    q, scale = quantization.quantize_symmetric(W, per_channel=False)
    assert scale.shape == () and scale.item() == pytest.approx(1.0)  # 127 / 127
    assert q.dtype == torch.int8
    assert q.tolist() == [[127, -63, 1], [0, 0, 0], [3, -1, 0]]
    assert quantization.dequantize(q, scale).tolist() == [[127, -63, 1], [0, 0, 0], [3, -1, 0]]


def test_int8_per_channel_hand_computed():
    q, scale = quantization.quantize_symmetric(W, per_channel=True)
    assert scale.tolist() == pytest.approx([1.0, 0.0, 0.02])  # 127 / 127, all-zero channel, 2.54 / 127
    assert q.tolist() == [[127, -63, 1], [0, 0, 0], [127, -63, 15]]
    restored = quantization.dequantize(q, scale)
    assert restored[2].tolist() == pytest.approx([2.54, -1.26, 0.3])
    assert restored[1].tolist() == [0.0, 0.0, 0.0]


def test_int8_per_channel_along_another_axis():
    q, scale = quantization.quantize_symmetric(W.T, per_channel=True, axis=1)
    assert q.tolist() == [[127, 0, 127], [-63, 0, -63], [1, 0, 15]]
    assert torch.equal(quantization.dequantize(q, scale, axis=1), quantization.dequantize(*(
        quantization.quantize_symmetric(W, per_channel=True))).T)


@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_round_trip_error_is_at_most_half_a_step(per_channel):
    w = torch.randn(16, 3, 3, 3, generator=torch.Generator().manual_seed(0)) * torch.logspace(-3, 1, 16).view(-1, 1, 1, 1)
    q, scale = quantization.quantize_symmetric(w, per_channel=per_channel)
    step = scale.view(-1, 1, 1, 1) if per_channel else scale
    error = (quantization.dequantize(q, scale) - w).abs()
    assert (error <= step / 2 * (1 + 1e-5)).all()
    assert int(q.abs().max()) == 127


def test_per_channel_keeps_a_small_channel_that_per_tensor_erases():
    w = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)) * torch.tensor([1e-3, 1.0, 1.0, 1.0]).view(-1, 1)
    per_tensor = quantization.dequantize(*quantization.quantize_symmetric(w, per_channel=False))
    per_channel = quantization.dequantize(*quantization.quantize_symmetric(w, per_channel=True))
    assert not per_tensor[0].any()  # every |w| < scale / 2: the whole channel rounds to 0
    assert (per_channel[0] - w[0]).norm() / w[0].norm() < 0.01


def test_all_zero_tensor_quantizes_to_zeros_without_nan():
    for per_channel in (False, True):
        q, scale = quantization.quantize_symmetric(torch.zeros(2, 3), per_channel=per_channel)
        assert not q.any() and not scale.any()
        assert torch.equal(quantization.dequantize(q, scale), torch.zeros(2, 3))


def test_float16_round_trip_and_float32_identity():
    model = small_cnn()
    half = quantization.quantize_model(model, "float16")
    same = quantization.quantize_model(model, "float32")
    for (_, original), (_, rounded), (_, copied) in zip(mask_layout.prunable_parameters(model),
                                                        mask_layout.prunable_parameters(half),
                                                        mask_layout.prunable_parameters(same)):
        assert torch.equal(rounded.weight, original.weight.half().float())
        assert torch.equal(rounded.bias, original.bias)  # biases stay float32
        assert torch.equal(copied.weight, original.weight)


@pytest.mark.parametrize(("scheme", "tolerance"), [("float16", 1e-3), ("int8-channel", 0.05), ("int8-tensor", 0.05)])
def test_quantize_model_copies_and_changes_predictions_slightly(scheme, tolerance):
    model = small_cnn()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    quantized = quantization.quantize_model(model, scheme)
    assert quantized is not model
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    x = images()
    logits, quantized_logits = training.predict_logits(model, x), training.predict_logits(quantized, x)
    relative = (quantized_logits - logits).norm() / logits.norm()
    assert 0 < relative < tolerance
    assert training.accuracy(quantized_logits.argmax(1), logits.argmax(1)) >= 0.9


def test_quantize_model_on_a_pruned_model_keeps_zeros():
    model = pruning.prune_magnitude(small_cnn(), 0.9)
    quantized = quantization.quantize_model(model, "int8-channel")
    for (_, pruned), (_, rounded) in zip(mask_layout.prunable_parameters(model), mask_layout.prunable_parameters(quantized)):
        assert not hasattr(rounded, "weight_mask")
        assert torch.equal(rounded.weight == 0, pruned.weight_mask == 0)
    assert hasattr(model.classifier, "weight_mask")


def test_quantized_storage_bytes():
    model = small_cnn()
    layers = mask_layout.prunable_parameters(model)
    n = sum(m.weight.numel() for _, m in layers)
    sizes = {scheme: storage.quantized_storage_bytes(model, scheme) for scheme in quantization.SCHEMES}
    assert sizes["float32"]["payload_bytes"] == 4 * n
    assert sizes["float16"]["payload_bytes"] == 2 * n
    assert sizes["int8-tensor"]["payload_bytes"] == n + 4 * len(layers)
    assert sizes["int8-channel"]["payload_bytes"] == n + 4 * sum(m.weight.shape[0] for _, m in layers)
    assert sizes["float32"]["bytes"] == storage.storage_bytes(model).loc["dense", "bytes"]
    assert sizes["float32"]["bytes"] > sizes["float16"]["bytes"] > sizes["int8-channel"]["bytes"]


def test_invalid_scheme_lists_the_choices():
    message = r"^scheme must be one of \['float32', 'float16', 'int8-tensor', 'int8-channel'\], got 'int4'$"
    with pytest.raises(ValueError, match=message):
        quantization.quantize_model(small_cnn(), "int4")
    with pytest.raises(ValueError, match=message):
        storage.quantized_storage_bytes(small_cnn(), "int4")


def test_four_bits_use_seven_levels_each_side_and_bad_widths_are_refused():
    q, scale = quantization.quantize_symmetric(torch.tensor([-1.4, 0.2, 0.6, 1.0]), per_channel=False, bits=4)
    assert q.tolist() == [-7, 1, 3, 5] and float(scale) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="bits"):
        quantization.quantize_symmetric(torch.ones(3), per_channel=False, bits=9)
