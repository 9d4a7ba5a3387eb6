"""Make a trained bundle smaller and faster: distillation, quantization, and the compress pipeline."""
