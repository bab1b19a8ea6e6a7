"""VPT baseline: an IDM labels action-free videos with pseudo-actions; the VLM pretrains on them."""
