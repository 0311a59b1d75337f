"""Modality adapters: one package per modality, and the protocol they share (base.py)."""
