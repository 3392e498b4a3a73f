"""The command-line layer: one thin module per command over the library in ``scenetools``."""
