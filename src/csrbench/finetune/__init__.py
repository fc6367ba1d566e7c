"""Matryoshka fine-tuning of a backbone: the paper's MRL, behind the method `mrl-ft`.

csrbench's `mrl` trains a head on frozen embeddings; the paper's MRL trains the backbone
itself with nested losses. This package does the latter on an experiment's training
split (`params`: the recipe; `text`/`image`: one modality each; `loop`: the shared
training loop, checkpoints and timing; `curve`: the checkpoints' test scores for the
training-time figure). Its output is a backbone whose embeddings the `embed` stage
extracts like any other; `mrl-ft` then reads prefixes of them.
"""
