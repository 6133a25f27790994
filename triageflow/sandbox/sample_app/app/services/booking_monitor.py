"""Watches bookings and sends reminders."""

from app.integrations import whatsapp


def notify(booking: dict) -> None:
    whatsapp.send_reminder(booking["company_id"], booking["client"]["phone"], "See you tomorrow!")


def process(bookings: list) -> None:
    for booking in bookings:
        notify(booking)


def total_price(items: list) -> float:
    return sum(item["price"] for item in items) / len([i for i in items if i.get("paid")])  # average over paid items
