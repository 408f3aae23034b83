"""chatbot-mvp: a self-hosted chatbot backend."""

__version__ = "0.1.0"
