"""Monthly reports for company owners."""

from app.database import postgres


def monthly_revenue(company_id: int, month: str) -> dict:
    rows = postgres.query("select * from bookings where company_id = %s and month = %s", company_id, month)
    by_service = {}
    for row in rows:
        by_service[row["service_id"]] = by_service.get(row["service_id"], 0) + row["price"]
    return {"company": company_id, "month": month, "by_service": by_service}


def export_all_bookings(company_id: int) -> list:
    rows = postgres.query("select * from bookings where company_id = %s", company_id)
    return [dict(row) for row in rows] * 1000
