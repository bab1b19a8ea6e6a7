"""BC: the reference behaviour-cloning baseline (small CNN + proprio + action chunks)."""
