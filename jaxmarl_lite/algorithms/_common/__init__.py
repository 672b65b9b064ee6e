"""Pieces shared by the algorithms (networks, replay, GAE, normalisation, schedules)."""
