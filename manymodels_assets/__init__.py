"""manymodels: one forecasting model per store-item, as Dagster assets."""
