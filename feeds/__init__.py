"""Syndication service for civic-engagement networks."""

__version__ = "0.1.0"
