"""Configs shipped with medclass (the demo's)."""
