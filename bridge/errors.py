"""Error types, grouped by what the caller does next."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(BridgeError):
    """The configuration is invalid; `lines` holds `file:line: path: message` entries."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.sha256: str | None = None  # of the file as read, when it was read: a reload tells what it parsed


class BrokerError(BridgeError):
    """Base of broker errors; adapters translate vendor errors into one of the subclasses."""


class TemporaryBrokerError(BrokerError):
    """Transient failure (network, 5xx, rate limit): a read may be retried, a submission may not."""


class HeldUnsent(TemporaryBrokerError):
    """The adapter's own throttle refused an order it would hold past its `send_by`: the venue was never asked.

    Nothing of the venue's health: a broker's circuit does not count it (a burst of signals at a bar's close, held in
    the rate limit, must not shut the broker for the fresh signals after it).
    """


class AccountRefused(TemporaryBrokerError):
    """The broker refuses every order of this account, whoever sends it (trading blocked on it): nothing was placed.

    A condition of the whole broker, not of one strategy's orders: it opens the broker's circuit at once, and a read
    is not asked again at once. An order the venue refuses for itself (insufficient buying power) is OrderRejected.
    """


class CredentialsRefused(AccountRefused):
    """The broker refused the API keys (revoked, wrong, or for another account): nothing was placed, for anyone."""


class OrderRejected(BrokerError):
    """The broker refused the order; final, never retried."""


class UnknownOutcome(BrokerError):
    """The broker may or may not have accepted the order: resolve with fetch_order(client_order_id)."""


class OrderNotFound(BrokerError):
    """No order with that client order id exists at the broker."""


class DuplicateClientOrderId(OrderRejected):
    """The broker already has an order with this client order id."""
