"""picojoule: neural networks onto microcontrollers, with exact answers before flashing."""

__version__ = "0.1.0"
