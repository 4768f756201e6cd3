"""Smaller and faster models from a trained run: quantised variants (`quantize`), distilled and
pruned runs (`derived`); exported at the package top level as headstart.quantize/distill/prune."""
