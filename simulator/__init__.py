"""chamber simulator."""
