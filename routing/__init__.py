"""Pure routing decisions: no I/O, no clock of its own; callers pass what they know."""
