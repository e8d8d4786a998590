"""RecSys: a multi-tenant recommendation service and the toolkit that tunes it safely."""

__version__ = "0.1.0"

__all__ = ["__version__"]
