"""Idempotent loaders: reference data every installation needs, and demo data."""
