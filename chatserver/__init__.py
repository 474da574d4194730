"""chatserver: an embeddable live-chat widget and backend."""

__version__ = "0.1.0"
