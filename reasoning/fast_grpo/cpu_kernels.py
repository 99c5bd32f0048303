"""Linear layers through oneDNN on CPUs where it beats torch's default fp32 GEMM.

torch runs an fp32 ``nn.Linear`` on the CPU through MKL's sgemm. On this project's reference
machine (AMD EPYC, 2 cores) MKL takes its generic code path and is 2-5x slower than oneDNN,
the other CPU kernel library bundled with torch, for the shapes sampling runs: 8 rows
against SmolLM2's 576x1536 projections, 13 ms vs 2.6 ms for the 49,152-row LM head with a
weight packed once in oneDNN's blocked layout (python -m benchmarks.bench_grpo shows the
effect on a whole iteration). The result is the same product to float rounding (~1e-6
relative), so this changes speed, not the sampled distribution.

On a CPU where MKL is as fast (recent Intel), ``onednn_is_faster`` measures that once and
nothing is swapped. Only for inference: ``OneDNNLinear`` has no backward.
"""
from __future__ import annotations

import functools
import logging
import time

import torch
from torch import nn

log = logging.getLogger(__name__)

MIN_SPEEDUP = 1.2  # below this the measurement is within noise: keep torch's default


def _pointwise_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def _pack(weight: torch.Tensor, rows_hint: int) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows_hint)


@functools.cache
def onednn_is_faster(in_features: int = 576, out_features: int = 1536, rows: int = 8) -> bool:
    """Whether a packed oneDNN linear beats ``torch.nn.functional.linear`` here (fp32, CPU), measured once."""
    if not torch.backends.mkldnn.is_available():
        return False
    from reasoning.fast_grpo import private_api
    absent = private_api.missing(private_api.ONEDNN_SYMBOLS)
    if absent:  # an optional speed-up: say why it is off, keep torch's own Linear
        log.warning("oneDNN linears off: %s", "; ".join(absent))
        return False
    # A generator of its own: drawing from torch's global one would shift every later sample of
    # the first run in a process, so two runs with one seed would not sample the same tokens.
    generator = torch.Generator().manual_seed(0)
    try:
        weight = torch.randn(out_features, in_features, generator=generator) * 0.02
        x = torch.randn(rows, in_features, generator=generator)
        packed = _pack(weight, rows)
        torch.testing.assert_close(_pointwise_linear(x, packed, None), nn.functional.linear(x, weight),
                                   atol=1e-4, rtol=1e-4)
    except (RuntimeError, AssertionError) as exc:  # an op missing from this build, or a wrong result
        log.info("oneDNN linear not used: %s", exc)
        return False

    def best_of(run, repeats: int = 5, calls: int = 20) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(calls):
                run()
            times.append(time.perf_counter() - started)
        return min(times)

    default = best_of(lambda: nn.functional.linear(x, weight))
    onednn = best_of(lambda: _pointwise_linear(x, packed, None))
    faster = default / onednn >= MIN_SPEEDUP
    log.info("CPU linear %dx%d, %d rows: torch %.3f ms, oneDNN %.3f ms -> %s", out_features, in_features, rows,
             1e3 * default / 20, 1e3 * onednn / 20, "oneDNN" if faster else "torch")
    return faster


class OneDNNLinear(nn.Module):
    """Inference-only stand-in for an ``nn.Linear`` that reads the same weight tensor.

    The weight is packed for oneDNN on first use and again whenever it was modified in place
    (``Tensor._version`` changes: e.g. the GRPO generation twin's merged weights, refreshed
    before every sampling round)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows_hint: int = 8) -> None:
        super().__init__()
        self.weight, self.bias, self.rows_hint = weight, bias, rows_hint
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self._packed: torch.Tensor | None = None
        self._packed_version = -1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None or self._packed_version != self.weight._version:
            self._packed = _pack(self.weight, self.rows_hint)
            self._packed_version = self.weight._version
        return _pointwise_linear(x, self._packed, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, oneDNN packed"


def use_onednn_linears(model: nn.Module) -> int:
    """Swap every fp32 CPU ``nn.Linear`` of ``model`` (an inference-only module tree) for a
    ``OneDNNLinear`` on the same tensors, where oneDNN measured faster; returns how many."""
    linears = [(name, module) for name, module in model.named_modules()
               if type(module) is nn.Linear and module.weight.device.type == "cpu"
               and module.weight.dtype == torch.float32]
    if not linears or not onednn_is_faster():
        return 0
    for name, module in linears:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child,
                OneDNNLinear(module.weight, module.bias))
    return len(linears)
