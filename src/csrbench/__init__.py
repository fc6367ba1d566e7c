"""csrbench: benchmark pipeline for adaptive embeddings (CSR vs MRL)."""
