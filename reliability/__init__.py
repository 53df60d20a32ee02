"""The fault-injection suite: ``make reliability`` (see docs/reliability.md)."""
