"""Benchmarks behind ``python -m durian_core bench``: :mod:`.classical` (CPU engine stages) and :mod:`.durian`
(the diffusion pipeline's speed, memory and FLOPs)."""
