"""Rendering a canonical request into the exact prompt text a model receives."""
