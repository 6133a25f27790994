"""Payment gateway client."""

import httpx

GATEWAY_URL = "https://pay.example.net/v2"


def charge(card_number: str, amount: int) -> str:
    response = httpx.post(f"{GATEWAY_URL}/charges", json={"card": card_number, "amount": amount}, timeout=5)
    if response.status_code == 402:
        raise ValueError(f"Payment gateway rejected card {card_number}: insufficient funds")
    return response.json()["id"]


def refund(charge_id: str) -> None:
    response = httpx.post(f"{GATEWAY_URL}/refunds", json={"charge": charge_id}, timeout=5)
    response.raise_for_status()
