"""Judges: process (step) judges, outcome judges and their metrics."""
