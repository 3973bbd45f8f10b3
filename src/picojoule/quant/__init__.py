"""Quantization arithmetic shared by kernels and code generators."""
