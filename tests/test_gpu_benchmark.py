"""benchmarks/gpu.py: the CPU-sized rehearsal runs every case, and its transformer FLOP formula is right."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_cpu_rehearsal_prints_a_row_per_case(bench):
    result = subprocess.run([sys.executable, str(SCRIPT), "--size", "cpu", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    table = lines[lines.index(bench.HEADER) + 1:]
    rows = {line.split()[0]: line.split() for line in table if line.strip()}
    for case in bench.CASES:
        assert case in rows, result.stdout
        # case, input, params, items/s, item, FLOP/step, TFLOP/s, MFU, peak GiB, FLOPs
        fields = rows[case]
        assert float(fields[3]) > 0
        assert math.isfinite(float(fields[5])) and float(fields[5]) > 0
        assert fields[7] == "-" and fields[8] == "-"  # no peak known for a CPU, no CUDA memory
    assert "not measured: no GPU" in result.stdout


@pytest.mark.parametrize("case", ["bert-large", "llama-2-7b", "mae-huge"])
def test_transformer_flop_formula_matches_torch_counter(bench, case):
    """2*N*B*S + 4*L*S^2*H*B against FlopCounterMode on a tiny model of the same architecture."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import BertModel, LlamaModel, ViTMAEModel

    torch.manual_seed(0)
    if case == "mae-huge":
        config = bench.mae_config("cpu")
        model, batch = ViTMAEModel(config).eval(), 2
        seq = (config.image_size // config.patch_size) ** 2 + 1
        inputs = {"pixel_values": torch.randn(batch, 3, config.image_size, config.image_size)}
    else:
        config = bench.text_config(case, "cpu")
        model = BertModel(config, add_pooling_layer=False) if case == "bert-large" else LlamaModel(config)
        # S = 128 > H = 64: attention is a third of the work, so leaving it out would fail the check.
        batch, seq = 2, 128
        inputs = {"input_ids": torch.randint(0, config.vocab_size, (batch, seq))}
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), counter:
        model.eval()(**inputs)
    counted = counter.get_total_flops()
    formula = bench.transformer_flops(bench.token_matmul_weights(model), config.num_hidden_layers,
                                      config.hidden_size, batch, seq)
    assert counted > 0
    assert formula == pytest.approx(counted, rel=0.10)


def test_peak_table_matches_cuda_device_names(bench):
    assert bench.peak_for_name("NVIDIA H100 80GB HBM3") == 989
    assert bench.peak_for_name("NVIDIA H100 PCIe") == 756
    assert bench.peak_for_name("NVIDIA H200") == 989
    assert bench.peak_for_name("NVIDIA A100-SXM4-80GB") == 312
    assert bench.peak_for_name("NVIDIA L40S") == 362
    assert bench.peak_for_name("NVIDIA GeForce RTX 4090") == 165
    assert bench.peak_for_name("Tesla T4") is None
