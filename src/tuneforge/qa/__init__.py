"""Extractive question answering: SQuAD data, overlapping windows over long contexts, answer search and SQuAD metrics."""
