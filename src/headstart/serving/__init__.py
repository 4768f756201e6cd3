"""HTTP serving of a run: FastAPI app with micro-batching (`headstart serve`)."""
