"""Datasets: the embedded synthetic set and UCF101-format split lists, read by one manifest."""
