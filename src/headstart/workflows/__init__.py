"""Jobs made of many runs or built on finished ones: comparisons, searches, learning curves,
active learning, ensembles, file prediction, compression, label audits, serving."""
