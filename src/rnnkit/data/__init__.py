"""Datasets: catalog, downloads, sources, text and time-series preprocessing, batches."""
