"""Crowd labels: aggregation of several annotators' answers into one label per item."""
