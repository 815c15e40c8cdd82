"""Recurrent building blocks, usable alone in any PyTorch code (imports only torch)."""
