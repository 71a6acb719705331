"""GPU dress rehearsal: the grid's largest architectures at real size, random weights, MFU and peak memory.

Nothing is downloaded: every model is built from a config written here with the real
checkpoint's shape and random weights, so the script runs on a machine with no hub
access the first time a GPU is lent. The cases:

    bert-large         BertModel (no pooler): hidden 1024, 24 layers, 16 heads, ffn 4096; 64 x 128 tokens
    opt-1.3b           OPTModel: hidden 2048, 24 layers, 32 heads, ffn 8192; 32 x 512 tokens
    llama-2-7b         LlamaModel with LLaMA-2-7B's shape: hidden 4096, 32 layers, 32 heads,
                       intermediate 11008, vocab 32000; 8 x 512 tokens
    resnet152          torchvision resnet152(weights=None); 256 images of 224 px (channels-last)
    mae-huge           ViTMAEModel: hidden 1280, 32 layers, 16 heads, ffn 5120, patch 14, 224 px,
                       mask_ratio 0 (all 256 patches + CLS); 64 images
    sd15-adapter-step  one adapter training step as synesthesia.t2i.train runs it: an SD-1.5-shaped
                       UNet2DConditionModel (blocks 320/640/1280/1280, cross-attention 768, 2 layers
                       per block, head dim 8, 64 x 64 x 4 latents = 512 px), frozen, in bf16 with
                       gradient checkpointing; SD-1.5's VAE shape, frozen, float32, on the device as
                       in a real run (latents come from the cache, so it does no work); a fresh mlp
                       TokenAdapter (1024 -> 768, bert-large's width, 77 tokens) trained in float32
                       with AdamW; batch 8. The step is the library's own `denoising_loss`, then
                       backward, gradient clipping and the optimiser step.

Text and vision cases encode under torch.inference_mode, in bf16 on a GPU and float32
on the CPU, after warm-up iterations, with the device synchronised around the timed loop.

FLOPs per step (multiply-add = 2 FLOPs):

- transformers (bert-large, opt-1.3b, llama-2-7b, mae-huge), analytically:
      FLOPs = 2 * N * B * S  +  4 * L * S^2 * H * B
  with N the weights of the matrix multiplies applied to every token (every nn.Linear
  weight, plus the patch-embedding convolution for ViT-MAE; embedding tables are
  lookups and count nothing), B sequences of S tokens, L layers, hidden width H. The
  second term is attention's two S x S products (Q K^T and the weighted sum of V),
  counted in full for causal decoders too (PaLM's convention), so a kernel that skips
  the masked half is not credited for skipping it. Norms, activations and softmax
  are left out (well under 1%).
- resnet152 and the UNet step, counted: torch.utils.flop_counter.FlopCounterMode on one
  item (math attention, so every product is visible to the counter), times the batch.
  For the training step the count is the forward pass plus the backward pass autograd
  runs (input gradients through the frozen UNet into the adapter, and the adapter's
  weight gradients), counted with checkpointing off: model FLOPs, so the forward pass
  that checkpointing recomputes is work done but not credited.

MFU = achieved FLOP/s / the device's dense bf16 peak (the table below, matched on the
device name; --peak-tflops for any other). Peak memory is torch.cuda.max_memory_allocated
over the case: weights, inputs and the timed steps.

The goals, when measured on a GPU: MFU >= 50% for bert-large and the 7B shape, and the
SD-1.5 adapter step within a 24 GB card (peak reserved by PyTorch's allocator <= 23 GiB,
leaving 1 GiB of a 24 GiB card to the CUDA context).

    .venv/bin/python benchmarks/gpu.py                      # on a GPU: every case at real size
    .venv/bin/python benchmarks/gpu.py --size cpu --device cpu   # the same architectures, a few
                                                            # layers and small widths: under a minute on 2 cores
    .venv/bin/python benchmarks/gpu.py --cases bert-large llama-2-7b --batch bert-large=128
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import platform
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

# Dense bf16 tensor-core peaks, TFLOP/s, from the vendors' datasheets; the first
# fragment found in torch.cuda.get_device_name() wins, so the specific names come first.
PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM
    ("H200", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("RTX 4090", 165.0),  # with float32 accumulation
)

MFU_GOAL = 0.50
MFU_GOAL_CASES = ("bert-large", "llama-2-7b")
MEMORY_GOAL_CASE = "sd15-adapter-step"
MEMORY_GOAL_GIB = 23.0  # a 24 GiB card less about 1 GiB of CUDA context
GIB = 2**30

CASES = ("bert-large", "opt-1.3b", "llama-2-7b", "resnet152", "mae-huge", "sd15-adapter-step")

# Per case and size: the batch (sequences or images) and, for text, the tokens per sequence.
BATCH = {
    "full": {"bert-large": 64, "opt-1.3b": 32, "llama-2-7b": 8, "resnet152": 256, "mae-huge": 64,
             "sd15-adapter-step": 8},
    "cpu": {"bert-large": 4, "opt-1.3b": 4, "llama-2-7b": 2, "resnet152": 4, "mae-huge": 4,
            "sd15-adapter-step": 2},
}
TOKENS = {"full": {"bert-large": 128, "opt-1.3b": 512, "llama-2-7b": 512},
          "cpu": {"bert-large": 32, "opt-1.3b": 32, "llama-2-7b": 32}}
IMAGE_SIZE = {"full": 224, "cpu": 32}
ITERATIONS = {"full": (3, 10), "cpu": (1, 2)}  # warm-up, timed


def text_config(case: str, size: str):
    """The transformers config of a text case: the real checkpoint's shape, or a few small layers."""
    from transformers import BertConfig, LlamaConfig, OPTConfig

    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    if case == "bert-large":  # bert-large-cased
        shape = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
        return BertConfig(vocab_size=28996, **(shape if size == "full" else {**small, "intermediate_size": 256}))
    if case == "opt-1.3b":
        shape = dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=32, ffn_dim=8192)
        shape = shape if size == "full" else {**small, "ffn_dim": 256}
        return OPTConfig(vocab_size=50272, max_position_embeddings=2048, word_embed_proj_dim=shape["hidden_size"],
                         **shape)
    if case == "llama-2-7b":
        shape = dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, intermediate_size=11008)
        shape = shape if size == "full" else {**small, "intermediate_size": 172}
        return LlamaConfig(vocab_size=32000, max_position_embeddings=4096,
                           num_key_value_heads=shape["num_attention_heads"], **shape)
    raise ValueError(f"no text case {case!r}")


def mae_config(size: str):
    from transformers import ViTMAEConfig

    if size == "full":  # facebook/vit-mae-huge
        shape = dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, intermediate_size=5120,
                     patch_size=14, image_size=224)
    else:
        shape = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                     patch_size=8, image_size=IMAGE_SIZE["cpu"])
    return ViTMAEConfig(mask_ratio=0.0, **shape)


def unet_config(size: str) -> dict:
    """Stable Diffusion 1.5's UNet config, or the same four levels and block types, narrow."""
    blocks = dict(down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                  up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, in_channels=4, out_channels=4)
    if size == "full":
        return dict(blocks, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
                    attention_head_dim=8, sample_size=64)
    return dict(blocks, block_out_channels=(32, 32, 64, 64), layers_per_block=1, cross_attention_dim=32,
                attention_head_dim=8, sample_size=8)


def vae_config(size: str) -> dict:
    channels = (128, 256, 512, 512) if size == "full" else (32, 32, 32, 32)
    return dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=channels,
                layers_per_block=2 if size == "full" else 1, latent_channels=4,
                sample_size=512 if size == "full" else 128, scaling_factor=0.18215)


# --- FLOPs ---------------------------------------------------------------------------------


def token_matmul_weights(model: nn.Module) -> int:
    """N of the formula: weights of the matrix multiplies every token goes through."""
    return sum(module.weight.numel() for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d)))


def transformer_flops(matmul_weights: int, layers: int, hidden: int, batch: int, seq: int) -> float:
    """Forward FLOPs of a transformer: 2 * N * B * S + 4 * L * S^2 * H * B (see the module docstring)."""
    return 2.0 * matmul_weights * batch * seq + 4.0 * layers * seq**2 * hidden * batch


def counted_flops(run: Callable[[], object]) -> int:
    """FLOPs torch's counter sees while ``run`` runs, with attention decomposed into visible products."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        run()
    return counter.get_total_flops()


# --- cases ---------------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    shape: str  # what one step processes, no spaces
    unit: str  # what an item is
    items: int  # per step
    params: int
    flops: float  # per step
    method: str  # how the FLOPs were obtained
    step: Callable[[], object] | None  # dropped once measured, freeing the model
    inference: bool = True


@contextlib.contextmanager
def building(device: torch.device, dtype: torch.dtype):
    """Parameters created straight on the device in the compute dtype (no float32 copy of a 7B on the host)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def text_workload(case: str, size: str, batch: int, device: torch.device, dtype: torch.dtype) -> Workload:
    from transformers import BertModel, LlamaModel, OPTModel

    config = text_config(case, size)
    with building(device, dtype):
        if case == "bert-large":
            model = BertModel._from_config(config, dtype=dtype, add_pooling_layer=False)
        else:
            model = {"opt-1.3b": OPTModel, "llama-2-7b": LlamaModel}[case]._from_config(config, dtype=dtype)
    model.eval()
    seq = TOKENS[size][case]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=generator).to(device)
    mask = torch.ones_like(ids)
    extra = {} if case == "bert-large" else {"use_cache": False}
    weights = token_matmul_weights(model)
    flops = transformer_flops(weights, config.num_hidden_layers, config.hidden_size, batch, seq)
    return Workload(case, f"{batch}x{seq}tok", "seq", batch, sum(p.numel() for p in model.parameters()), flops,
                    "formula", lambda: model(input_ids=ids, attention_mask=mask, **extra).last_hidden_state)


def mae_workload(size: str, batch: int, device: torch.device, dtype: torch.dtype) -> Workload:
    from transformers import ViTMAEModel

    config = mae_config(size)
    with building(device, dtype):
        model = ViTMAEModel._from_config(config, dtype=dtype)
    model.eval()
    pixels = torch.randn(batch, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(0))
    pixels = pixels.to(device, dtype)
    seq = (config.image_size // config.patch_size) ** 2 + 1  # patches and CLS; mask_ratio 0 keeps every patch
    flops = transformer_flops(token_matmul_weights(model), config.num_hidden_layers, config.hidden_size, batch, seq)
    return Workload("mae-huge", f"{batch}x{config.image_size}px", "img", batch,
                    sum(p.numel() for p in model.parameters()), flops, "formula",
                    lambda: model(pixel_values=pixels).last_hidden_state)


def resnet_workload(size: str, batch: int, device: torch.device, dtype: torch.dtype) -> Workload:
    from torchvision.models import resnet152
    from torchvision.models.resnet import Bottleneck, ResNet

    with building(device, dtype):
        model = resnet152(weights=None) if size == "full" else ResNet(Bottleneck, [1, 1, 1, 1])
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = model.eval().to(memory_format=memory_format)
    side = IMAGE_SIZE[size]
    pixels = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))
    pixels = pixels.to(device, dtype).contiguous(memory_format=memory_format)
    with torch.inference_mode():
        flops = counted_flops(lambda: model(pixels[:1])) * batch
    return Workload("resnet152", f"{batch}x{side}px", "img", batch, sum(p.numel() for p in model.parameters()),
                    flops, "counted", lambda: model(pixels))


def unet_step_workload(size: str, batch: int, device: torch.device, dtype: torch.dtype) -> Workload:
    """One adapter training step as synesthesia.t2i.train.train_adapter takes it, with random weights."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    from synesthesia.t2i.adapter import build_adapter
    from synesthesia.t2i.generator import Generator
    from synesthesia.t2i.train import DEFAULTS as TRAINING
    from synesthesia.t2i.train import denoising_loss

    with building(device, dtype):
        unet = UNet2DConditionModel(**unet_config(size))
    with building(device, torch.float32):
        vae = AutoencoderKL(**vae_config(size))
    for model in (unet, vae):  # as load_generator leaves them
        model.requires_grad_(False).eval()
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", prediction_type="epsilon")
    generator = Generator({"id": "sd15-shape (random weights)", "resolution": 8 * unet.config.sample_size},
                          unet, vae, scheduler, device, dtype)
    states_dim, tokens = (1024, 77) if size == "full" else (64, 16)
    torch.manual_seed(0)
    adapter = build_adapter({"kind": "mlp"}, states_dim, generator.cross_attention_dim).to(device).train()
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=TRAINING["learning_rate"],
                                  weight_decay=TRAINING["weight_decay"])

    # One batch as the training loop draws it (on the host, moved by denoising_loss): sampled
    # latents, token states padded to `tokens` with captions of 8 to 40 tokens, noise, timesteps.
    rng = torch.Generator().manual_seed(0)
    side = unet.config.sample_size

    def draw(n: int) -> tuple[torch.Tensor, ...]:
        latents = generator.scale_latents(torch.randn(n, generator.latent_channels, side, side, generator=rng))
        states = torch.randn(n, tokens, states_dim, generator=rng)
        lengths = torch.randint(min(8, tokens), min(40, tokens) + 1, (n, 1), generator=rng)
        mask = (torch.arange(tokens) < lengths).to(torch.uint8)
        noise = torch.randn(latents.shape, generator=rng)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=rng)
        return latents, states, mask, noise, timesteps

    def step(inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        loss = denoising_loss(generator, adapter, *inputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(adapter.parameters(), TRAINING["max_grad_norm"])
        optimizer.step()
        return loss

    unet.disable_gradient_checkpointing()
    one = draw(1)
    flops = counted_flops(lambda: denoising_loss(generator, adapter, *one).backward()) * batch
    optimizer.zero_grad(set_to_none=True)
    unet.enable_gradient_checkpointing()  # as the training default does
    inputs = draw(batch)
    params = sum(p.numel() for p in unet.parameters())
    return Workload("sd15-adapter-step", f"{batch}x{8 * side}px", "img", batch, params, flops, "counted",
                    lambda: step(inputs), inference=False)


def build(case: str, size: str, batch: int, device: torch.device, dtype: torch.dtype) -> Workload:
    if case in TOKENS[size]:
        return text_workload(case, size, batch, device, dtype)
    if case == "mae-huge":
        return mae_workload(size, batch, device, dtype)
    if case == "resnet152":
        return resnet_workload(size, batch, device, dtype)
    if case == "sd15-adapter-step":
        return unet_step_workload(size, batch, device, dtype)
    raise ValueError(f"unknown case {case!r}")


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Result:
    workload: Workload
    seconds_per_step: float
    peak_allocated: float | None  # bytes
    peak_reserved: float | None

    @property
    def items_per_second(self) -> float:
        return self.workload.items / self.seconds_per_step

    @property
    def tflops(self) -> float:
        return self.workload.flops / self.seconds_per_step / 1e12


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(workload: Workload, device: torch.device, warmup: int, iterations: int) -> Result:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # from here: weights, inputs and the steps
    mode = torch.inference_mode() if workload.inference else contextlib.nullcontext()
    with mode:
        for _ in range(warmup):
            workload.step()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(iterations):
            workload.step()
        synchronize(device)
        elapsed = time.perf_counter() - start
    peaks = (None, None)
    if device.type == "cuda":
        peaks = (torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device))
    return Result(workload, elapsed / iterations, *peaks)


def device_peak(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """The dense bf16 peak in TFLOP/s and where it came from."""
    if override:
        return override, "--peak-tflops"
    if device.type != "cuda":
        return None, "unknown for a CPU (give --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    tflops = peak_for_name(name)
    if tflops is None:
        return None, f"{name} is not in the table (give --peak-tflops)"
    return tflops, f"dense bf16 peak of {name}"


def peak_for_name(name: str) -> float | None:
    """The table's dense bf16 peak for a CUDA device name, or None."""
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment.lower() in name.lower():
            return tflops
    return None


def format_row(result: Result, peak: float | None) -> str:
    w = result.workload
    mfu = f"{100 * result.tflops / peak:.1f}%" if peak else "-"
    memory = f"{result.peak_allocated / GIB:.2f}" if result.peak_allocated is not None else "-"
    return (f"{w.name:<18} {w.shape:<12} {w.params / 1e6:>8.1f}M {result.items_per_second:>10.2f} {w.unit:<4} "
            f"{w.flops:>10.3e} {result.tflops:>9.3g} {mfu:>7} {memory:>9} {w.method}")


HEADER = (f"{'case':<18} {'input':<12} {'params':>9} {'items/s':>10} {'item':<4} {'FLOP/step':>10} "
          f"{'TFLOP/s':>9} {'MFU':>7} {'peak GiB':>9} FLOPs")


def goals(results: dict[str, Result], device: torch.device, peak: float | None) -> list[str]:
    lines = [f"goals on a GPU: MFU >= {100 * MFU_GOAL:.0f}% for {' and '.join(MFU_GOAL_CASES)}; "
             f"{MEMORY_GOAL_CASE} within a 24 GB card (peak reserved <= {MEMORY_GOAL_GIB:g} GiB)"]
    if device.type != "cuda":
        return lines + [f"  {case}: not measured: no GPU" for case in (*MFU_GOAL_CASES, MEMORY_GOAL_CASE)]
    for case in MFU_GOAL_CASES:
        if case not in results:
            lines.append(f"  {case}: not run (not in --cases)")
        elif not peak:
            lines.append(f"  {case}: {results[case].tflops:.1f} TFLOP/s; MFU unknown: no peak for this device")
        else:
            mfu = results[case].tflops / peak
            lines.append(f"  {case}: MFU {100 * mfu:.1f}%: {'met' if mfu >= MFU_GOAL else 'NOT met'}")
    if MEMORY_GOAL_CASE not in results:
        lines.append(f"  {MEMORY_GOAL_CASE}: not run (not in --cases)")
    else:
        result = results[MEMORY_GOAL_CASE]
        reserved = result.peak_reserved / GIB
        lines.append(f"  {MEMORY_GOAL_CASE}: peak allocated {result.peak_allocated / GIB:.2f} GiB, reserved "
                     f"{reserved:.2f} GiB: {'met' if reserved <= MEMORY_GOAL_GIB else 'NOT met'}")
    return lines


def parse_batches(pairs: list[str], size: str) -> dict[str, int]:
    batches = dict(BATCH[size])
    for pair in pairs:
        case, _, value = pair.partition("=")
        if case not in CASES or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--batch takes CASE=N with CASE one of {', '.join(CASES)}; got {pair!r}")
        batches[case] = int(value)
    return batches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=("full", "cpu"), default="full",
                        help="full: the real shapes; cpu: the same architectures, a few small layers")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--batch", nargs="+", default=[], metavar="CASE=N", help="batch size per case")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, TFLOP/s")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default 3 full, 1 cpu)")
    parser.add_argument("--iters", type=int, help="timed steps (default 10 full, 2 cpu)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    batches = parse_batches(args.batch, args.size)
    warmup = ITERATIONS[args.size][0] if args.warmup is None else args.warmup
    iterations = ITERATIONS[args.size][1] if args.iters is None else args.iters
    peak, peak_source = device_peak(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"machine: {platform.platform()}, {name}, torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    print(f"device {device}, {dtype}, size {args.size}, {warmup} warm-up + {iterations} timed steps per case; "
          f"peak: {f'{peak:g} TFLOP/s ({peak_source})' if peak else peak_source}")
    print("FLOPs: transformers by formula 2*N*B*S + 4*L*S^2*H*B; resnet152 and the UNet step counted "
          "(FlopCounterMode, model FLOPs without checkpointing's recompute)")

    results: dict[str, Result] = {}
    for case in args.cases:
        torch.manual_seed(0)
        started = time.perf_counter()
        workload = build(case, args.size, batches[case], device, dtype)
        built = time.perf_counter() - started
        result = measure(workload, device, warmup, iterations)
        if not (result.items_per_second > 0 and math.isfinite(workload.flops)):
            raise RuntimeError(f"{case}: no valid measurement")
        results[case] = result
        print(f"{case}: built in {built:.1f} s; {result.items_per_second:.2f} {workload.unit}/s, "
              f"{result.tflops:.3g} TFLOP/s", flush=True)
        workload.step = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    print()
    print(HEADER)
    for result in results.values():
        print(format_row(result, peak))
    print()
    for line in goals(results, device, peak):
        print(line)


if __name__ == "__main__":
    main()
