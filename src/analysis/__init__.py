"""Community Workbench."""
