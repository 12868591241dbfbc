"""The storage dtype of hidden states: fp16 only when it cannot overflow; never inf."""
import numpy as np
import pytest
import torch

from swejepa.storage import (FP16_MAX, StorageOverflow, bf16_bits_to_float32, cast_for_storage, max_abs,
                             storage_dtype)


def test_fp16_kept_when_every_layer_fits():
    d, why = storage_dtype({"first": 3.0, "last": 400.0})
    assert d == "float16" and "400" in why


def test_bf16_chosen_when_a_layer_could_overflow_fp16():
    d, why = storage_dtype({"first": 10.0, "half": 9.0e4, "last": 100.0})
    assert d == "bfloat16" and "half" in why
    # headroom: values near the limit already switch (unseen tokens may be larger)
    assert storage_dtype({"last": 0.6 * FP16_MAX})[0] == "bfloat16"
    assert storage_dtype({"last": 0.6 * FP16_MAX}, headroom=1.0)[0] == "float16"


def test_other_requests_are_kept_and_aliases_accepted():
    assert storage_dtype({"last": 1e6}, "fp32")[0] == "float32"
    assert storage_dtype({"last": 1e6}, "bf16")[0] == "bfloat16"
    with pytest.raises(ValueError):
        storage_dtype({"last": 1.0}, "int8")


def test_non_finite_maxima_are_an_error():
    with pytest.raises(StorageOverflow):
        storage_dtype({"last": float("inf")})
    with pytest.raises(StorageOverflow):
        storage_dtype({"last": float("nan")})


def test_cast_never_writes_inf():
    x = np.array([1.0, -7.0e4, 3.0], dtype=np.float32)
    with pytest.raises(StorageOverflow):
        cast_for_storage(x, "float16")
    bits = cast_for_storage(x, "bfloat16")
    assert bits.dtype == np.uint16
    back = bf16_bits_to_float32(bits)
    assert np.isfinite(back).all() and np.allclose(back, x, rtol=1e-2)


def test_bf16_numpy_cast_equals_torch():
    x = torch.randn(1000) * 1000
    ours = bf16_bits_to_float32(cast_for_storage(x.numpy(), "bfloat16"))
    ref = x.to(torch.bfloat16).float().numpy()
    assert np.array_equal(ours, ref)
    assert np.array_equal(cast_for_storage(x, "bfloat16"), x.to(torch.bfloat16).view(torch.uint16).numpy())


def test_max_abs_of_tensor_and_array():
    assert max_abs(torch.tensor([[-5.0, 2.0]], dtype=torch.bfloat16)) == 5.0
    assert max_abs(np.array([1.0, -3.0])) == 3.0
