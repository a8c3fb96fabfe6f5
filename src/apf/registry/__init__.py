"""Stored API objects with Kubernetes' strategy: metadata, defaulting, validation, status."""
