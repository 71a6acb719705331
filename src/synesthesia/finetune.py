"""Full fine-tuning of a text encoder on one GLUE task: the study's optional protocol.

The whole transformer and a new linear head on its pooled feature (the same pooling
the probes read) are trained with AdamW, learning rate 2e-5 warmed up linearly over
the first 10% of the steps and decayed linearly to zero, batch size 32, for 3
epochs (5 for the small MRPC and WNLI), as BERT's authors fine-tuned on GLUE.
Classification tasks minimise cross-entropy; STS-B regresses its 0-5 score with the
mean squared error. The model is scored on the task's evaluation splits with GLUE's
metrics and written as long-format records like the probes' (``method: finetune``).

Weights train in float32 (AdamW's small updates vanish in bfloat16); on a GPU the
forward pass runs under autocast in the ``precision`` asked: bfloat16 (the default),
float16 with a scaled loss (the study's: HF Trainer's ``fp16=True``), or float32
throughout. On a CPU it always runs in float32. A seed fixes the head's initialisation,
the dropout masks and the order of the training examples, so a CPU run repeats exactly.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data.glue import read_labels
from .data.tables import read_table
from .glue import TRAIN_SPLIT, GlueTask, hub_task
from .models import load_encoder
from .models.hf import HFEncoder
from .models.pooling import TOKEN_POOLINGS
from .records import write_records

DEFAULT_EPOCHS = 3
# The study trains the small MRPC and WNLI longer: 3 epochs over a few thousand examples are too few steps.
EPOCHS_BY_TASK = {"mrpc": 5, "wnli": 5}
WARMUP_FRACTION = 0.1
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
# The forward pass's autocast dtype per precision setting; fp32 runs without autocast.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}

log = logging.getLogger(__name__)


class MixedPrecision(NamedTuple):
    """How one run's forward passes compute: what ``precision`` asked for on its device."""

    precision: str  # what ran: bf16, fp16 or fp32
    autocast_dtype: torch.dtype | None  # None: float32 throughout, no autocast
    scales_loss: bool  # float16 gradients underflow unless the loss is scaled (GradScaler)


def mixed_precision(precision: str, device: torch.device) -> MixedPrecision:
    """The autocast dtype and loss scaling of ``precision`` (bf16, fp16 or fp32) on ``device``.

    Autocast runs on CUDA only: on a CPU every precision trains in float32, as it always has
    (float16 autocast gains nothing there), and the run records fp32.
    """
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"fine-tuning precision {precision!r} is unknown; set experiments.glue.finetune.precision "
                         f"to one of {', '.join(AUTOCAST_DTYPES)}")
    if device.type != "cuda" or precision == "fp32":
        return MixedPrecision("fp32", None, False)
    return MixedPrecision(precision, AUTOCAST_DTYPES[precision], precision == "fp16")


def default_epochs(task: str) -> int:
    """The study's number of epochs for a GLUE task (``mnli``, not ``mnli_matched``)."""
    return EPOCHS_BY_TASK.get(hub_task(task).name, DEFAULT_EPOCHS)


def tokenize(encoder: HFEncoder, texts: Sequence[str], text_pairs: Sequence[str] | None) -> dict:
    """A batch in the encoder's native (pair) input, truncated to its length limit, on its device."""
    first, second = encoder.pair_inputs(texts, text_pairs)
    batch = encoder.tokenizer(first, second, padding=True, truncation=True, max_length=encoder.max_length,
                              return_tensors="pt").to(encoder.device)
    if encoder.pools_at_end_token():
        encoder.check_end_tokens(batch["input_ids"], batch["attention_mask"])
    return batch


def pooled_features(encoder: HFEncoder, batch: dict, paired: bool) -> torch.Tensor:
    """The vector ``encoder.encode_texts`` returns, computed with gradients so the encoder can train."""
    want_layers = encoder.layer is not None
    out = encoder.model(**batch, output_hidden_states=want_layers)
    if encoder.pools_at_end_token() and paired:
        # CLIP pools at the first end token, which in a joined pair ends the first text only.
        pooled = TOKEN_POOLINGS["eos"](out.last_hidden_state, batch["attention_mask"])
        return encoder.model.text_projection(pooled) if encoder.pooling == "projection" else pooled
    if encoder.pooling == "projection":
        return out.text_embeds
    if encoder.pooling == "pooler":
        return out.pooler_output
    hidden = out.hidden_states[encoder.layer] if want_layers else out.last_hidden_state
    return TOKEN_POOLINGS[encoder.pooling](hidden, batch["attention_mask"])


def head_outputs(encoder: HFEncoder, head: torch.nn.Linear, texts: Sequence[str], text_pairs: Sequence[str] | None,
                 autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """The head's float32 outputs; the forward pass runs under autocast to ``autocast_dtype`` where given."""
    batch = tokenize(encoder, texts, text_pairs)
    with torch.autocast(encoder.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        return head(pooled_features(encoder, batch, paired=text_pairs is not None)).float()


def batch_loss(encoder: HFEncoder, head: torch.nn.Linear, texts: Sequence[str], text_pairs: Sequence[str] | None,
               targets: torch.Tensor, regression: bool, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mean squared error of the predicted score (regression) or cross-entropy of the class logits."""
    outputs = head_outputs(encoder, head, texts, text_pairs, autocast_dtype)
    if regression:
        return F.mse_loss(outputs.squeeze(-1), targets.float())
    return F.cross_entropy(outputs, targets)


@torch.inference_mode()
def predict(encoder: HFEncoder, head: torch.nn.Linear, texts: Sequence[str], text_pairs: Sequence[str] | None,
            regression: bool, batch_size: int, autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Predicted scores (regression) or class indices, with dropout off."""
    encoder.model.eval()
    head.eval()
    predictions = []
    for start in range(0, len(texts), batch_size):
        pairs = None if text_pairs is None else text_pairs[start:start + batch_size]
        outputs = head_outputs(encoder, head, texts[start:start + batch_size], pairs, autocast_dtype)
        predictions.append(outputs.squeeze(-1) if regression else outputs.argmax(dim=-1))
    return torch.cat(predictions).cpu().numpy()


def split_examples(texts: pd.DataFrame, labels: pd.DataFrame, split: str, source: str
                   ) -> tuple[list[str], list[str] | None, np.ndarray]:
    """Texts, text pairs (None for one-sentence tasks) and labels of one split, in the labels' order."""
    chosen = labels[labels["split"] == split]
    if chosen.empty:
        raise ValueError(f"{source}: no examples of split {split!r}; prepare the task with prepare_glue")
    missing = set(chosen["id"]) - set(texts.index)
    if missing:
        raise ValueError(f"{source}: {len(missing)} labelled examples have no text (e.g. {sorted(missing)[:3]}); "
                         "prepare the text and label tables together")
    rows = texts.loc[chosen["id"]]
    pairs = rows["text_pair"].tolist() if "text_pair" in rows else None
    return rows["text"].tolist(), pairs, chosen["label"].to_numpy()


def _checked_classes(labels: np.ndarray, task: GlueTask, labels_table: str) -> torch.Tensor:
    n_classes = len(task.label_names)
    if not np.isin(labels, np.arange(n_classes)).all():
        raise ValueError(f"{labels_table}: {task.name} labels must be class indices 0..{n_classes - 1}; "
                         f"found {sorted(set(labels.tolist()) - set(range(n_classes)))[:5]}")
    return torch.tensor(labels, dtype=torch.int64)


def _optimizer(encoder: HFEncoder, head: torch.nn.Linear, learning_rate: float) -> torch.optim.AdamW:
    # As BERT: no weight decay on biases and LayerNorm weights, the parameters with one dimension.
    parameters = [*encoder.model.parameters(), *head.parameters()]
    groups = [{"params": [p for p in parameters if p.ndim >= 2], "weight_decay": WEIGHT_DECAY},
              {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate)


def finetune_glue(model_name: str, entry: dict, text_table: str, labels_table: str, task: str, out: str, *,
                  learning_rate: float = 2e-5, batch_size: int = 32, epochs: int | None = None, seed: int = 0,
                  device: str = "auto", max_steps: int | None = None, precision: str = "bf16") -> list[dict]:
    """Fine-tune one hf text model on a GLUE task's training split, score its evaluation splits, write ``out``.

    ``epochs`` defaults to the study's (:func:`default_epochs`); ``max_steps`` caps the
    optimizer steps (the learning-rate schedule then spans that many). ``precision``
    (bf16, fp16 or fp32) is the forward pass's on a GPU (:func:`mixed_precision`). Returns
    the long-format records written to ``out`` (JSON): one per evaluation set and metric.
    """
    from transformers import get_linear_schedule_with_warmup

    if entry.get("source") != "hf" or entry.get("modality") != "text":
        raise ValueError(f"model {model_name!r} ({entry.get('source')} {entry.get('modality')}): fine-tuning "
                         "supports only text models with source hf; probe this model's frozen embeddings instead")
    spec = hub_task(task)
    epochs = default_epochs(task) if epochs is None else epochs
    regression = spec.is_regression
    texts = read_table(text_table, blank_texts_allowed=True).set_index("id")  # GLUE as published
    labels = read_labels(labels_table)
    train_texts, train_pairs, train_labels = split_examples(texts, labels, TRAIN_SPLIT, labels_table)
    targets = (torch.tensor(train_labels, dtype=torch.float32) if regression
               else _checked_classes(train_labels, spec, labels_table))

    # An entry's dtype is for extraction; training needs float32 weights whatever it says.
    encoder = load_encoder(model_name, {**entry, "dtype": "float32"}, device=device, dtype="float32")
    amp = mixed_precision(precision, encoder.device)
    if amp.precision != precision:
        log.info("%s on %s: precision %s applies on a GPU only; training on %s in fp32",
                 model_name, task, precision, encoder.device)
    # Seeded after loading, so the head and the dropout masks do not depend on what loading draws.
    torch.manual_seed(seed)
    feature_dim = encoder.encode_texts(train_texts[:1], None if train_pairs is None else train_pairs[:1]).shape[1]
    head = torch.nn.Linear(feature_dim, 1 if regression else len(spec.label_names)).to(encoder.device)
    targets = targets.to(encoder.device)

    steps_per_epoch = math.ceil(len(train_texts) / batch_size)
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    optimizer = _optimizer(encoder, head, learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, round(WARMUP_FRACTION * total_steps), total_steps)
    # Disabled (a pass-through) unless fp16: then the loss is scaled up so small gradients survive float16.
    scaler = torch.amp.GradScaler(encoder.device.type, enabled=amp.scales_loss)
    shuffle = torch.Generator().manual_seed(seed)
    encoder.model.train()
    head.train()
    step, epoch_loss = 0, math.nan
    with tqdm(total=total_steps, desc=f"finetune {model_name} on {task}", unit="step", mininterval=10) as bar:
        for epoch in range(math.ceil(total_steps / steps_per_epoch)):
            losses = []
            for rows in torch.randperm(len(train_texts), generator=shuffle).split(batch_size)[: total_steps - step]:
                rows = rows.tolist()
                loss = batch_loss(encoder, head, [train_texts[i] for i in rows],
                                  None if train_pairs is None else [train_pairs[i] for i in rows],
                                  targets[rows], regression, amp.autocast_dtype)
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_([*encoder.model.parameters(), *head.parameters()], MAX_GRAD_NORM)
                scale = scaler.get_scale()
                scaler.step(optimizer)  # skipped where the scaled gradients overflowed
                scaler.update()
                # As HF Trainer: the schedule advances only with the optimizer, so a skipped step shifts no rate.
                if scaler.get_scale() >= scale:
                    schedule.step()
                losses.append(loss.item())
                step += 1
                bar.update()
            epoch_loss = float(np.mean(losses))
            log.info("%s on %s: epoch %d of %d, mean training loss %.4f (%d steps)",
                     model_name, task, epoch + 1, epochs, epoch_loss, len(losses))

    provenance = encoder.provenance()
    common = {"method": "finetune", "learning_rate": learning_rate, "batch_size": batch_size, "epochs": epochs,
              "seed": seed, "precision": amp.precision, "n_train": len(train_texts), "steps": step,
              "train_loss": epoch_loss}
    records = []
    for name, split in spec.evaluation_splits.items():
        eval_texts, eval_pairs, eval_labels = split_examples(texts, labels, split, labels_table)
        predictions = predict(encoder, head, eval_texts, eval_pairs, regression, batch_size, amp.autocast_dtype)
        for metric, value in spec.evaluate(eval_labels, predictions).items():
            records.append({"task": name, "metric": metric, "value": value, **common, "n_eval": len(eval_labels)})
    identity = {"model": model_name, "family": provenance["family"], "pooling": provenance["pooling"],
                "revision": provenance["revision"]}
    return write_records(out, identity, records)
