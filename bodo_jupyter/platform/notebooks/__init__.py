"""Notebooks: Jupyter servers on nodes of their own, optionally attached to a cluster."""
