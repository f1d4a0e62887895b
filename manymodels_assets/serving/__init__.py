"""Real-time scoring: one service for every store-item, models loaded on demand.

``index`` (the key index of a model set; pyarrow and fsspec only) is what the pipeline calls;
``server`` builds the process from the MANYMODELS_* settings. See docs/serving.md.
"""
