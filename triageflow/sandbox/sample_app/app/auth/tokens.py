"""Access tokens for the partner API."""

import time


class TokenExpired(Exception):
    pass


def check_token(claims: dict) -> dict:
    if claims["exp"] < time.time():
        raise TokenExpired(f"Access token expired at {claims['exp']} for partner {claims['sub']}")
    return claims
