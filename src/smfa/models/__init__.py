"""Models: the tiny offline MLLM builder, and loading/saving through the Auto classes."""
