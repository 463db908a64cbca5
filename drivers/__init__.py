"""chamber drivers."""
