"""llama-herd-router: a VRAM-aware GPU router for Ollama clusters."""

__version__ = "0.1.0"
