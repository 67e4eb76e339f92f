"""cim-router: real-time skills-based routing for contact centres."""

__version__ = "0.1.0"
