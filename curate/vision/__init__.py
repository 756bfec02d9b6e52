"""Pretrained image backbones, preprocessing and batched image loading (shared by curate and classify)."""
