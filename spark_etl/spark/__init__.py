"""Spark itself: the one place a session is built, phase progress, and the actions that run
jobs on the executors (cache, duplicates, counts)."""
