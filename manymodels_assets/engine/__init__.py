"""Spark adapters: read and write the lake, map the pure core over store-item groups."""
