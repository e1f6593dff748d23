"""Built-in agents: deterministic, offline analysers of the user's input. Registered in agents.runners."""
