"""Scoring a model on labelled rows, per language, and what it costs; plots of results."""
