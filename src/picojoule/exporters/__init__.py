"""Exporters: IR in, model files out (``picojoule.exporters.tflite``)."""
