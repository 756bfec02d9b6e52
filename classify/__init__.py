"""Train, evaluate and serve the main image classifier on a curated catalog.

Importing classify registers its train and evaluate steps with `curate run` (classify.steps).
"""

from classify import steps as _steps  # noqa: F401 - registers the training steps with curate.pipeline
