"""UniPi baseline: a text-conditioned video diffusion model plans frames; an IDM turns them into actions."""
