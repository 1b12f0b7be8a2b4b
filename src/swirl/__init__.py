"""swirl: Step-Wise Reinforcement Learning for multi-step reasoning and tool use."""

__version__ = "0.1.0"
