"""Deliberately broken servers (each breaks one rule) that the contract suite must kill."""

from broken_servers.mutants import MUTANTS
from broken_servers.serve import Served, serve

__all__ = ["MUTANTS", "Served", "serve"]
