"""Compression passes (quantization, pruning, sparsity, distillation, fusion), each producing a measured candidate."""
