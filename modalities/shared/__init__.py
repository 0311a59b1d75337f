"""Pieces two or more modalities use, each once: the ±0.5 one-hot codec, the size histogram and
size bucketing, the line-numbered record reader, Fréchet/precision-recall metrics, a cached scorer
network, and the U-Net for grid-shaped data."""
