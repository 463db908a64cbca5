"""chamber console."""
