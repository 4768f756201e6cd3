"""Reading labelled tables (CSV, TSV, JSONL, Parquet, CoNLL), finding their columns, checking and
splitting them."""
