"""Export a bundle to other runtimes (ONNX), each export checked against the model it came from."""
