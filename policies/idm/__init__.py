"""Inverse dynamics model (IDM): (x_t, x_{t+1}) -> the 7-D action between them. Used by VPT and UniPi."""
