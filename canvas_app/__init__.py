"""canvas-app: a node canvas for identity-locked AI video."""
__version__ = "0.1.0"
