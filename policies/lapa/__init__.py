"""LAPA: latent action quantization (LAQ), latent pretraining, action finetuning."""
