"""A tiny causal language model for the reader's batches: what the trainer test and the ablation train.

Token and position embeddings (positions from the reader's `position_ids`, which restart at each document), a few
pre-norm transformer blocks with a causal mask, and an output layer tied to the token embedding. Small enough
that a few dozen steps run in seconds on one CPU thread, and its loss still falls as it learns the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int
    seq_len: int  # longest input (the reader's seq_len: windows are seq_len + 1 tokens)
    width: int = 32
    layers: int = 1
    heads: int = 2


class TinyLM(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.width)
        self.positions = nn.Embedding(config.seq_len + 1, config.width)
        block = nn.TransformerEncoderLayer(
            config.width, config.heads, 4 * config.width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.width)
        # Small embeddings (GPT-2's 0.02): the first logits are near zero, so training starts at ln(vocab).
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits [batch, length, vocab] for inputs [batch, length]."""
        x = self.tokens(tokens) + self.positions(positions)
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1], device=tokens.device)
        x = self.blocks(x, mask=mask, is_causal=True)
        return self.norm(x) @ self.tokens.weight.T


def next_token_loss(model: nn.Module, batch: dict[str, torch.Tensor], device: str = "cpu") -> torch.Tensor:
    """Mean cross-entropy of predicting tokens[:, 1:] from tokens[:, :-1] (a reader batch)."""
    tokens = batch["tokens"].to(device)
    positions = batch["position_ids"].to(device)[:, :-1]
    logits = model(tokens[:, :-1], positions)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
