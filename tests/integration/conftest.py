"""Fixtures shared by several integration modules; each lives in the module of its helpers."""

from tests.integration.api_env import env

__all__ = ["env"]
