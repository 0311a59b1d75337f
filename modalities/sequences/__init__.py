"""Sequence modality: antibody CDR3s and heavy chains (OLGA), RNA families (ViennaRNA), or any sequence file.

Registers ``sequences`` (:class:`SequenceModality`) for recipes: cdr3, vh, rna_hairpin, rna_trna, fasta.
"""

from ..base import register_modality
from .alphabet import Alphabet
from .encoding import SequenceCodec
from .modality import SequenceModality

register_modality("sequences")(SequenceModality)

__all__ = ["Alphabet", "SequenceCodec", "SequenceModality"]
