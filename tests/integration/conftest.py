"""Fixtures shared by several integration modules; each lives in the module of its helpers."""

from tests.integration.api_env import env
from tests.integration.search_plans import plan

__all__ = ["env", "plan"]
