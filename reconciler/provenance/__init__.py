"""TODO: stage package."""
