"""Limits on failed attempts, per user and per client IP: limiter.py counts and refuses, stores.py
keeps the counters (in the database, or Redis), keys.py names what is counted."""
