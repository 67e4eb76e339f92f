"""State in Redis: the source of truth for interactions, agents and context."""
