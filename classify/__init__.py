"""Train, evaluate and serve the main image classifier on a curated catalog."""
