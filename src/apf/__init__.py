"""apf: Kubernetes API Priority and Fairness, with the flowcontrol API server around it."""

__version__ = "0.1.0"
__all__ = ["__version__"]
