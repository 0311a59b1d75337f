"""Audio modality for pfgm: espeak-ng spoken digits, procedural tones, WAV/FLAC folders and SC09 as log-mel
images (shared U-Net) or raw waveforms (DiffWave-style net); 16-bit WAV output; SC09-style metrics.

Importing this package registers :class:`AudioModality` as ``modality: {name: audio}``.
"""

from .modality import AudioModality

__all__ = ["AudioModality"]
