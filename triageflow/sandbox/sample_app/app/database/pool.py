"""A small connection pool with a hard size limit."""


class PoolExhausted(Exception):
    pass


class Pool:
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.in_use = 0

    def acquire(self, timeout: float):
        if self.in_use >= self.size:
            raise PoolExhausted(f"QueuePool limit of size {self.size} overflow 0 reached, connection timed out, timeout {timeout}")
        self.in_use += 1
        return None

    def release(self, conn) -> None:
        self.in_use = max(0, self.in_use - 1)
