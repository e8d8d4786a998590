"""Request and response models of every operation (generated from docs/openapi.json)."""

from recsys_client._generated import *  # noqa: F403
from recsys_client._generated import __all__ as _generated_names

__all__ = [name for name in _generated_names if name not in ("AsyncOperations", "SyncOperations")]
