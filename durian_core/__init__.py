"""Durian: portrait animation with attribute transfer."""
