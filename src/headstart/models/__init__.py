"""Encoders (where they come from), the classifiers runs save, their variants and surgery."""
