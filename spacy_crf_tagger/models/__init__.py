"""Thinc wiring of the sequence labeller; plain PyTorch modules live in ``pytorch/``."""
