"""chamber protocols."""
