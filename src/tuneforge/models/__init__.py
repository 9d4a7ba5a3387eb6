"""Task models transformers does not ship, built on a transformers encoder (safetensors in, safetensors out)."""
