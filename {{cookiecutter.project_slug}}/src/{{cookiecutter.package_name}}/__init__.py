"""Support-ticket triage and knowledge-base retrieval: pipeline stages and shared helpers."""

__version__ = "0.1.0"
