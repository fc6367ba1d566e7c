"""Text: a sentence-transformers backbone trained with sentence-transformers' own
`MatryoshkaLoss` around `MultipleNegativesRankingLoss` on the experiment's relevance
pairs (query -> doc), the recipe of the library's Matryoshka examples.

The loop is ours (`loop.run_finetune`), not `SentenceTransformerTrainer`: the trainer
needs `accelerate` and `datasets` at run time, and ours times steps the way CSR's fit is
timed. The loss, the tokenisation (`model.preprocess`) and the saved folder are the
library's, so the checkpoint is a plain sentence-transformers folder that loads offline
as `model: <folder>`.

`max_seq_length` is the training token limit only (a cost knob): embedding the
checkpoint uses the base backbone's limit, so mrl-ft and every other method see the
same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from csrbench.backbones import build_backbone
from csrbench.data.base import Split
from csrbench.finetune.params import FinetuneError, FinetuneParams


def relevance_pairs(split: Split) -> tuple[list[str], list[str]]:
    """(source texts, target texts) of every graded-positive relevance pair."""
    rel = split.relevance
    if rel is None:
        raise FinetuneError(
            f"split {split.split!r} of {split.dataset!r} has no query->doc relevance: the text "
            "fine-tune trains on relevance pairs"
        )
    pairs = rel.pairs[rel.pairs[:, 2] > 0]
    src, tgt = split.fields[rel.source].items, split.fields[rel.target].items
    return [str(src[i]) for i in pairs[:, 0]], [str(tgt[j]) for j in pairs[:, 1]]


class TextTask:
    """MatryoshkaLoss(MNRL) on (query, doc) pairs of a sentence-transformers backbone."""

    def __init__(
        self,
        spec: dict[str, Any],
        train: Split,
        val: Split,
        params: FinetuneParams,
        ks: list[int],
        device: str,
    ) -> None:
        from sentence_transformers.sentence_transformer.losses import (
            MatryoshkaLoss,
            MultipleNegativesRankingLoss,
        )

        if spec.get("type") != "sentence-transformers":
            raise FinetuneError(
                "the text fine-tune trains sentence-transformers backbones, not "
                f"{spec.get('type')!r}"
            )
        backbone = build_backbone(spec, device=device)
        self.spec, self.device = dict(spec), backbone.device
        self.embed_max_seq_length = backbone.max_seq_length
        self.model = backbone.model
        if params.max_seq_length is not None:
            self.model.max_seq_length = params.max_seq_length
        self.prompts = dict(spec.get("prompts") or {})
        rel = train.relevance
        assert rel is not None
        self.names = (rel.source, rel.target)
        self.src, self.tgt = relevance_pairs(train)
        self.val_src, self.val_tgt = relevance_pairs(val)
        self.n_train = len(self.src)
        self.batch_size = params.batch_size
        self.val_rows = min(len(self.val_src), params.val_batches * params.batch_size)
        if self.val_rows < 2:
            raise FinetuneError("the validation split has fewer than 2 relevance pairs")
        d = backbone.dim
        self.nesting = params.nesting_for(d, ks)
        inner = MultipleNegativesRankingLoss(self.model, scale=1.0 / params.temperature)
        self.loss = MatryoshkaLoss(self.model, inner, matryoshka_dims=self.nesting)
        self.model.train()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _features(self, texts: list[str], field: str) -> dict[str, Tensor]:
        prompt = self.prompts.get(field)
        if prompt:
            texts = [prompt + t for t in texts]
        feats = self.model.preprocess(texts)
        return {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in feats.items()}

    def _loss(self, src: list[str], tgt: list[str]) -> Tensor:
        feats = [self._features(src, self.names[0]), self._features(tgt, self.names[1])]
        return self.loss(feats, None)

    def train_loss(self, rows: np.ndarray) -> Tensor:
        return self._loss([self.src[i] for i in rows], [self.tgt[i] for i in rows])

    def val_loss(self) -> float:
        """Mean nested loss over the first val rows in batches of the training size (the
        batch sets how many negatives each pair sees)."""
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, self.val_rows - 1, self.batch_size):
                stop = min(start + self.batch_size, self.val_rows)
                if stop - start < 2:
                    break
                loss = self._loss(self.val_src[start:stop], self.val_tgt[start:stop])
                total += float(loss) * (stop - start)
                count += stop - start
        self.model.train()
        return total / count

    def save(self, out: Path, ref: str) -> dict[str, Any]:
        self.model.save(str(out), create_model_card=False)
        return {**self.spec, "model": ref, "max_seq_length": self.embed_max_seq_length}
