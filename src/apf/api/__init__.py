"""Kubernetes API types of flowcontrol.apiserver.k8s.io: schema, defaults, validation, errors."""
