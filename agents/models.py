"""The agent catalogue (built out in the agents issue)."""
