"""The corpus's library `nn.Module`s: models as a user builds them from a popular model library (Hugging Face
transformers), small configurations with seeded weights, so they build offline with no download from a hub.

Each factory returns the library's own module class, unwrapped, in eval mode, returning the library's own output
objects (ModelOutput, a dict of tensors), as a user would pass it. The corpus (corpus.toml, format "torch-factory") names them as
`corpus_modules:NAME`; reach.py puts this folder on PYTHONPATH. What matters for reach is the graph the library's code
builds (fused GELU, LayerNorm, attention masks from Range/Where/Expand, convolutional feature extractors), not the
weights.
"""

from __future__ import annotations

SEED = 0


def _seeded():
    import torch

    torch.manual_seed(SEED)


def hf_bert_classifier():
    """BERT sequence classifier: int32 token ids (--input-shape input_ids=1x32:int32), 3 classes."""
    from transformers import BertConfig, BertForSequenceClassification

    _seeded()
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64, num_labels=3)
    return BertForSequenceClassification(config).eval()


def hf_gpt2_lm():
    """GPT-2 language model head: int64 token ids, causal attention, logits over a 500-token vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    _seeded()
    config = GPT2Config(vocab_size=500, n_positions=64, n_embd=64, n_layer=2, n_head=2, use_cache=False, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def hf_vit_classifier():
    """Vision Transformer image classifier: 3x32x32 images in 8x8 patches, 10 classes."""
    from transformers import ViTConfig, ViTForImageClassification

    _seeded()
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=128, num_labels=10)
    return ViTForImageClassification(config).eval()


def hf_wav2vec2_encoder():
    """wav2vec 2.0 speech encoder: a raw waveform (1 x samples), a convolutional feature extractor, a transformer."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    _seeded()
    config = Wav2Vec2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                            conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    return Wav2Vec2Model(config).eval()


def hf_mobilevit_classifier():
    """MobileViT image classifier (convolutions and transformer blocks over unfolded patches), 64x64 images."""
    from transformers import MobileViTConfig, MobileViTForImageClassification

    _seeded()
    config = MobileViTConfig(image_size=64, patch_size=2, hidden_sizes=[32, 48, 64], neck_hidden_sizes=[8, 16, 24, 32, 48,
                             64, 80], num_attention_heads=2, num_labels=10)
    return MobileViTForImageClassification(config).eval()
