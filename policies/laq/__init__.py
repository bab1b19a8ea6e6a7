"""LAQ: latent action quantization (LAPA stage 1)."""
