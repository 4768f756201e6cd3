"""Prediction with a trained model: inputs in, the task's outputs and decisions out."""
