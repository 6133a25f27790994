"""WhatsApp reminders through the messaging gateway."""

import time


class SessionExpired(Exception):
    pass


SESSIONS: dict[int, dict] = {}


def load_session(company_id: int) -> dict:
    session = SESSIONS.get(company_id)
    if session is None or session["expires_at"] < time.time():
        raise SessionExpired(f"WhatsApp session expired for company {company_id}")
    return session


def send_reminder(company_id: int, phone: str, text: str) -> None:
    session = load_session(company_id)
    session["client"].send(phone, text)
