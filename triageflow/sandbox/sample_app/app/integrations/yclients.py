"""YClients booking API integration."""

import httpx

BASE_URL = "https://api.yclients.com/api/v1"
PAGE_SIZE = 200


class RateLimited(Exception):
    pass


def fetch_records(company_id: int, page: int = 1):
    response = httpx.get(f"{BASE_URL}/records/{company_id}", params={"page": page, "count": PAGE_SIZE}, timeout=10)
    if response.status_code == 429:
        raise RateLimited(f"YClients API returned 429 Too Many Requests for company {company_id} page {page}")
    response.raise_for_status()
    return response.json()["data"]


def sync_bookings(company_id: int):
    page = 1
    while True:
        records = fetch_records(company_id, page)
        if not records:
            return
        page += 1
