"""Models trained or fitted on frozen embeddings: CSR (sparse), MRL heads, baselines."""

from csrbench.models.csr import CSR, TrainCodes, codes_to_dense, topk_stable
from csrbench.models.mrl import MRLHead, PrefixClassifiers

__all__ = ["CSR", "MRLHead", "PrefixClassifiers", "TrainCodes", "codes_to_dense", "topk_stable"]
