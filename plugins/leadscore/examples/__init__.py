"""Converters that turn real public datasets into this project's landing files."""
