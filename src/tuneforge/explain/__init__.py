"""Explanations: which words drove a prediction (integrated gradients, ``attributions.py``)."""
