"""Analyses over the IR (pure functions: a model in, plain data out)."""
