"""The shared training loop, its job and hooks, and resumable checkpoints."""
