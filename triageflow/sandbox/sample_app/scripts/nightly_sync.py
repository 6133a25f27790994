"""Nightly job: sync bookings from YClients for every company."""

from app.integrations import yclients

COMPANIES = [962302, 962303, 962310]


def main() -> None:
    for company_id in COMPANIES:
        yclients.sync_bookings(company_id)


if __name__ == "__main__":
    main()
