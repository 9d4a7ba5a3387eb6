"""Images: reading them safely (Pillow, IDX files) and the packaged pretrained CNN (EfficientNet-Lite0).

The image-classification task builds on these; nothing here reads a pickle except the packaged
EfficientNet-Lite0 weights, and those only with ``torch.load(..., weights_only=True)`` after their
sha256 matched the one pinned here.
"""
