"""Evaluation: metrics for each task and the reports built from them."""
