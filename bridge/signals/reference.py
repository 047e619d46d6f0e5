"""What each payload field means, with an example and its error codes: the source of docs/signals.md."""

from __future__ import annotations

from typing import Any, NamedTuple


class FieldDoc(NamedTuple):
    """One payload field's documentation."""

    meaning: str
    example: dict[str, Any]
    codes: tuple[str, ...] = ()


def _ex(**fields: Any) -> dict[str, Any]:
    return {"ticker": "SQ", "action": "buy", **fields}


FIELDS: dict[str, FieldDoc] = {
    "ticker": FieldDoc(
        "The symbol; `ticker_map` can translate it per subscription (e.g. `NQ1!` -> `MNQZ2026`). An exchange "
        "prefix (`NASDAQ:AMD`, as Pine's `syminfo.tickerid` gives it) is dropped before the broker sees it, "
        "unless `ticker_map` has a key with it. Leading and trailing whitespace is dropped; an invisible or "
        "control character inside it (a zero-width space pasted with the symbol) is refused, as is a Pine "
        'ticker id (`={"session":"extended","symbol":"NASDAQ:AMD"}`, `syminfo.tickerid` on a chart with '
        "chart settings): send `syminfo.ticker`.",
        _ex(),
        ("invalid-payload", "empty-ticker-name"),
    ),
    "action": FieldDoc(
        "What to do: buy, sell, exit, cancel, add, reverse (exit then enter the other side, whatever "
        "the swap settings) or breakeven (a stop at the average entry price, in place of the position's "
        "stop-loss and any earlier breakeven stop; rejected while the price has not passed that stop yet, "
        "where it would fill at once, and when that cannot be checked: send `price` with it, unless the broker "
        "quotes).",
        _ex(action="exit"),
        ("invalid-payload", "invalid-action"),
    ),
    "sentiment": FieldDoc(
        "The position wanted afterwards, with buy/sell only: bullish (`long`), bearish (`short`), "
        "flat. `sell` + `flat` exits a long without going short. Sent empty with buy or sell (a placeholder "
        "that gave nothing) it is refused, not read as none: a plain sell while long also opens a short.",
        _ex(action="sell", sentiment="flat"),
        ("invalid-sentiment", "invalid-sentiment-action"),
    ),
    "price": FieldDoc(
        "The price when the alert fired (`{{close}}`); used for market fills on the paper broker, for "
        "limit prices and for sizing.",
        _ex(price="{{close}}"),
        ("invalid-price",),
    ),
    "signalPrice": FieldDoc(
        "Alias of `price`; `price` wins when both are sent.", _ex(signalPrice=60.3), ("invalid-price",)
    ),
    "quantity": FieldDoc(
        "How much; read as `quantityType` says (default: units). Used for entries when the "
        "subscription's `use_signal_quantity` is on; for exits it caps how much is closed. A quantity of 0 "
        "with sentiment flat (`{{strategy.position_size}}` on a strategy's close) is taken as none: the "
        "whole position is exited.",
        _ex(quantity=5),
        ("invalid-quantity",),
    ),
    "quantityType": FieldDoc(
        "fixed_quantity, dollar_amount, percent_of_equity, percent_of_position, risk_dollar_amount or "
        "risk_percent (the risk types measure to the entry's stop loss: the signal's stopLoss where allowed, else "
        "the subscription's `stop_loss`; without one, or with a trailing_stop one, which has no stop price, the "
        "signal is rejected). On an exit, dollars are converted "
        "at the price (or the quote); the equity and risk types size entries only: an exit action with one is "
        "refused (400), and a sell or buy that exits with one is rejected. A sell while long (a buy while short) "
        "with percent_of_position sells (covers) that percent of the position and opens nothing, as TradersPost's "
        "example does: a sell of 50 with 100 shares sells 50. Sent empty beside a quantity (a placeholder that "
        "gave nothing) it is refused, not read as units: a quantity meant in dollars would trade that many shares.",
        _ex(quantity=1000, quantityType="dollar_amount"),
        (
            "invalid-quantity-type",
            "invalid-quantity-type-action",
            "quantity-type-requires-quantity",
            "invalid-percent-of-position-action",
            "invalid-risk-dollar-amount-action",
        ),
    ),
    "orderType": FieldDoc(
        "market, limit, stop, stop_limit or trailing_stop.",
        _ex(orderType="limit", limitPrice=60),
        ("invalid-order-type",),
    ),
    "limitPrice": FieldDoc(
        "The limit of a limit or stop_limit order; `price` is used when absent. A limit order with neither is "
        "placed at the broker's quote (Alpaca's bid/ask midpoint, the paper broker's last price) rounded to the "
        "tick, down for buys and up for sells, as TradersPost does, and rejected where the broker gives none; a "
        "stop_limit needs one of them, and a stop_limit exit's limit must sit at or below a long's stop (at or above "
        "a short's), where it can fill once the stop triggers.",
        _ex(orderType="limit", limitPrice=59.5),
        ("invalid-limit-price",),
    ),
    "stopPrice": FieldDoc(
        "The trigger of a stop or stop_limit order.", _ex(orderType="stop", stopPrice=61), ("invalid-stop-price",)
    ),
    "trailAmount": FieldDoc(
        "A trailing_stop's distance in price.",
        _ex(action="sell", orderType="trailing_stop", trailAmount=1.5),
        ("invalid-trailing-stop",),
    ),
    "trailPercent": FieldDoc(
        "A trailing_stop's distance in percent; a sell's (and a long's trailing stop loss's) below 100, since "
        "trailing 100% or more below the price it would never trigger.",
        _ex(action="sell", orderType="trailing_stop", trailPercent=2),
        ("invalid-trailing-stop",),
    ),
    "timeInForce": FieldDoc(
        "day, gtc, opg, cls, ioc or fok. Unset, the subscription's time_in_force; where that is unset too, an entry "
        "with a take-profit or stop-loss goes gtc with its legs, so they outlive the close.",
        _ex(timeInForce="gtc"),
        ("invalid-time-in-force",),
    ),
    "extendedHours": FieldDoc(
        "Trade outside regular hours; limit orders only.",
        _ex(orderType="limit", limitPrice=60, extendedHours=True),
        ("invalid-extended-hours",),
    ),
    "takeProfit": FieldDoc(
        "A take-profit leg on the entry: one of limitPrice (or price, its older name), percent, amount (from the "
        "entry).",
        _ex(price=60, takeProfit={"percent": 4}),
        (
            "invalid-take-profit-limit-price",
            "invalid-take-profit-percent",
            "invalid-take-profit-amount",
            "invalid-take-profit-amount-and-percent",
            "invalid-take-profit-relative-and-absolute",
            "invalid-take-profit-value-required",
        ),
    ),
    "stopLoss": FieldDoc(
        "A stop-loss leg on the entry: type (stop, stop_limit, trailing_stop) and one of stopPrice, "
        "percent, amount (or trailAmount/trailPercent for trailing_stop); limitPrice for stop_limit, at or below a "
        "long's stop (at or above a short's): one on the other side would not fill as the price runs through the "
        "stop, so the signal is rejected.",
        _ex(price=60, stopLoss={"type": "stop", "percent": 2}),
        (
            "invalid-stop-loss-type",
            "invalid-stop-loss-stop-price",
            "invalid-stop-loss-percent",
            "invalid-stop-loss-amount",
            "invalid-stop-loss-limit-price",
            "invalid-stop-loss-trail-amount",
            "invalid-stop-loss-trail-percent",
            "invalid-stop-loss-trail-value",
            "invalid-stop-loss-amount-and-percent",
            "invalid-stop-loss-relative-and-absolute",
            "invalid-stop-loss-value-required",
        ),
    ),
    "cancel": FieldDoc(
        "true: cancel the ticker's open orders first; false: never (overrides `cancel_open_orders`).",
        _ex(cancel=True),
        ("invalid-payload",),
    ),
    "cancelOrderType": FieldDoc(
        "With action cancel: only cancel open orders of this type. Sent empty with action cancel (a placeholder "
        "that gave nothing) it is refused, not read as none, which would cancel them all, the stop-loss too.",
        {"ticker": "SQ", "action": "cancel", "cancelOrderType": "stop"},
        ("invalid-order-type",),
    ),
    "ignoreTradingWindows": FieldDoc(
        "true: this signal trades even outside the subscription's trading windows.",
        _ex(ignoreTradingWindows=True),
        ("invalid-payload",),
    ),
    "breakevenOffset": FieldDoc(
        "With action breakeven: the stop sits this far beyond the average entry price (a short's stop at or below "
        "zero is rejected).",
        {"ticker": "SQ", "action": "breakeven", "breakevenOffset": 0.1},
        ("invalid-breakeven-offset", "invalid-breakeven-order-type"),
    ),
    "delay": FieldDoc(
        "Execute later: seconds (1 to 86400), a relative time as TradersPost writes it (`+5 minutes`; seconds, "
        "minutes, hours or days) or an ISO 8601 time at most 24 hours ahead (one that passed on the way "
        "runs at once; one more than `max_signal_age` past is refused). Until its time it can be canceled: "
        "`bridge cancel SIGNAL_ID` or `POST /api/signals/{id}/cancel`.",
        _ex(delay=300),
        ("invalid-delay-format",),
    ),
    "cancelAfter": FieldDoc(
        "Cancel the order if it has not filled after this many seconds (1 to 3600).",
        _ex(orderType="limit", limitPrice=59, cancelAfter=600),
        ("invalid-cancel-after",),
    ),
    "time": FieldDoc(
        "When the alert fired (`{{timenow}}`), ISO 8601 or epoch seconds/milliseconds.",
        _ex(time="{{timenow}}"),
        ("invalid-time",),
    ),
    "interval": FieldDoc("The chart interval (`{{interval}}`), kept for troubleshooting.", _ex(interval="15")),
    "extras": FieldDoc(
        "Your own object of fields; journaled, never acted on.", _ex(extras={"setup": "breakout"}), ("invalid-extras",)
    ),
    "message": FieldDoc(
        "Free text shown with the signal (up to 1,000 characters).",
        _ex(message="breakout long"),
        ("invalid-message-length",),
    ),
}
