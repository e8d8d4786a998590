"""Python client for the RecSys HTTP API: `Client` (sync) and `AsyncClient`, typed models for
every request and response (`recsys_client.models`), retries on 429/503."""

from recsys_client.client import AsyncClient, Client
from recsys_client.errors import RecsysError
from recsys_client.retries import RetryPolicy

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "RecsysError", "RetryPolicy", "__version__"]
