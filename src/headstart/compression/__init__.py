"""What compression costs and saves: models measured side by side on the same test rows (the
variants themselves are in `headstart.models.variants`; the workflows that make and record them
are in `headstart.workflows.compress`)."""
