"""Booking service."""
