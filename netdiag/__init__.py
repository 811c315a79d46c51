"""netdiag: fleet triage of TCP socket trouble."""

__version__ = "0.1.0"
