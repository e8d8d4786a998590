"""The HTTP service: FastAPI app factory, schemas, routes."""

from recsys.service.app import create_app

__all__ = ["create_app"]
