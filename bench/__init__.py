"""Benchmarks of chamber's moving parts; each writes its figures to bench/results/."""
