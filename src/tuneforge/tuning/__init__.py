"""Hyperparameter search (``tuneforge tune``) and the method advisor (``tuneforge compare``)."""
