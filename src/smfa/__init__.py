"""smfa: make a multimodal LLM forget private facts about chosen people, and measure it."""

__version__ = "0.1.0"
