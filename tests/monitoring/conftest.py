"""Fixtures of the monitoring tests: local webhook and SMTP servers (``_servers``)."""

from _servers import hook, smtp

__all__ = ["hook", "smtp"]
