"""HTTP handlers of the booking API."""

import importlib

from app.services import booking_monitor, reports


def create_booking(request: dict) -> dict:
    booking_id = request["booking_id"]
    return {"id": booking_id, "total": booking_monitor.total_price(request["items"])}


def revenue(request: dict) -> dict:
    return reports.monthly_revenue(request["company_id"], request["month"])


def load_plugin(name: str):
    return importlib.import_module(f"app.plugins.{name}")
