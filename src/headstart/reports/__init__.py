"""What people read: model cards and comparison reports."""
