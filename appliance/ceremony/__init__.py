"""ceremony."""
