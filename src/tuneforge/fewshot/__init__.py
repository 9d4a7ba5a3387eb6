"""Learning from few labels or none: zero-shot by label descriptions, contrastive few-shot (SetFit-style).

Both produce an :class:`EmbeddingClassifier` (sentence encoder, mean pooling, a linear head on the
unit-length embedding), which bundles, reloads and predicts like every other model.
"""
