"""Diagnosis: the connection test, the port probe and the advice for what failed."""
