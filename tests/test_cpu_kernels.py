"""oneDNN linear layers compute nn.Linear's product (to float rounding) and follow in-place weight updates."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from reasoning.fast_grpo import cpu_kernels

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def test_onednn_linear_matches_nn_linear_and_repacks_after_in_place_updates():
    torch.manual_seed(0)
    reference = nn.Linear(96, 160)
    layer = cpu_kernels.OneDNNLinear(reference.weight, reference.bias)
    for shape in [(8, 96), (3, 5, 96), (1, 1, 96)]:  # decode step, prefill, single token
        x = torch.randn(*shape)
        with torch.no_grad():
            torch.testing.assert_close(layer(x), reference(x), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        reference.weight.mul_(-2.0)  # e.g. the generation twin's merged weights, refreshed in place
        x = torch.randn(4, 96)
        torch.testing.assert_close(layer(x), reference(x), atol=1e-5, rtol=1e-5)


def test_swaps_every_linear_of_an_inference_model_only_where_faster(tiny_model_dir):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.randint(0, 1000, (2, 7))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    swapped = cpu_kernels.use_onednn_linears(model)
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    if cpu_kernels.onednn_is_faster():
        assert swapped == 2 * 7 + 1 and linears == 0  # 2 layers x 7 projections + the LM head
    else:
        assert swapped == 0 and linears == 2 * 7 + 1
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, expected, atol=2e-5, rtol=1e-4)
    # The tied LM head still reads the embedding matrix itself.
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_measuring_the_kernel_leaves_torchs_global_random_stream_alone():
    """The first GRPO run in a process measures the kernels; a run with the same seed must still
    sample what a later run with that seed samples."""
    cpu_kernels.onednn_is_faster.cache_clear()
    torch.manual_seed(7)
    cpu_kernels.onednn_is_faster()
    after_measuring = torch.rand(4)
    torch.manual_seed(7)
    assert torch.equal(after_measuring, torch.rand(4))
