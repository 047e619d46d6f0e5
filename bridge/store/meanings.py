"""What each table and column of the journal means, one line each: docs/journal.md is generated from these.

Kept beside the migrations: a step that adds a table or a column adds its meaning here, and a test fails until it
does (tests/test_docs.py). The types, defaults, keys and indexes are read from a migrated journal, never written here.
"""

from __future__ import annotations

# The tables users may query and build on (design §6): extended, never renamed.
STABLE = ("webhooks", "signals", "orders")

TABLES: dict[str, str] = {
    "webhooks": "Every request to a webhook URL, accepted or refused (a wrong token's too), with the answer it got.",
    "signals": "One per accepted webhook (or per signal a scheduled job made): its normalised fields, its state and "
    "the decision taken.",
    "orders": "One per order the bridge planned (written, `pending`, before it is sent), with the broker's last word "
    "on it.",
    "executions": "One per signal and subscription: how that subscription handled the signal; a crash resumes the "
    "unfinished ones.",
    "idempotency_keys": "The idempotency keys of accepted signals, one per strategy and key, so a resend makes no "
    "second signal.",
    "recent_content": "The body of each ticker's last accepted signal per strategy, for the keyless duplicate check "
    "within `dedupe_window`.",
    "trading_state": "The kill switch (`bridge halt` / `bridge resume`): one row, read again before every order.",
    "broker_identities": "What each broker name stood for when the daemon last started or reloaded, so a plan is "
    "never resumed at another account.",
    "identity_key": "This journal's own random key, made by its migration: broker credentials are compared as an HMAC "
    "under it.",
    "paper_accounts": "The paper broker's cash, per broker name (its row is made by the first fill).",
    "paper_orders": "The paper broker's orders, per broker name, as its simulated venue holds them.",
    "paper_positions": "The paper broker's positions, per broker name and symbol.",
    "paper_fills": "Every fill of the paper broker, one row each.",
    "paper_prices": "The last price the paper broker saw for each symbol (from a signal's price or a quote).",
}

_TIME = "ISO 8601 UTC, microseconds"

COLUMNS: dict[str, dict[str, str]] = {
    "webhooks": {
        "id": "The request's id (a UUIDv7): the `logId` of its answer.",
        "received_at": f"When the request arrived ({_TIME}).",
        "strategy": "The strategy, when the URL named a known one with its right token; NULL otherwise.",
        "remote_addr": "The client's address (behind a trusted proxy, the one it forwarded; text that is not an "
        "address is kept with secrets masked).",
        "method": "The HTTP method.",
        "path": "The URL path with the token masked: `/webhook/<strategy>/***` (`/trading/webhook/<strategy>/***` by "
        "TradersPost's path); `/webhook/***/***` without a known strategy and its right token, the name masked too "
        "(it may be a secret); the token is never stored.",
        "headers": "The request headers as a JSON object, secrets masked: `Authorization`, `Cookie` and headers named "
        "like a credential left out, `Idempotency-Key` and `webhook-id` as `sha256:<hex>`; at most 50, cut long. "
        "For a request without a valid token, the headers in order as far as 4,096 characters (names and values) hold "
        "them: a value past them is `(N characters, not read)`, a header whose name is past them too is left out and "
        "counted in an entry `(not kept)` (`N more headers, M characters, not read ...`); a name or value holding "
        "more escapes (`%XX`, `\\uXXXX`, NULs) than "
        "are left of the 1,024 read for all its headers is a note (`*** (N characters holding more escapes than were "
        "left to read ..., not kept)`).",
        "body": "The body as sent (read as UTF-8), with every configured secret masked; NULL when it was not read "
        "(a wrong token, a refused source, a body over `max_body_bytes` or not whole in time: 408).",
        "status_code": "The HTTP status answered.",
        "message_code": "The answer's `messageCode` (`duplicate` for a repeat answered 200); NULL for a signal "
        "accepted.",
        "message": "The answer's message, secrets masked.",
        "signal_id": "The signal it made (`signals.id`), or for a duplicate the signal it repeats; NULL otherwise.",
    },
    "signals": {
        "id": "The signal's id (a UUIDv7): the `id` of the webhook's answer.",
        "webhook_id": "The request it came from (`webhooks.id`); `job:flatten_at` for a signal the flatten_at job "
        "made.",
        "strategy": "The strategy it was sent to.",
        "ticker": "The `ticker` as sent.",
        "action": "The `action`.",
        "sentiment": "The `sentiment`, when sent.",
        "price": "The signal's `price` (else its `signalPrice`), as exact decimal text.",
        "quantity": "The `quantity` as sent, as exact decimal text; NULL when not sent.",
        "signal_time": f"The signal's `time` ({_TIME}); NULL when not sent.",
        "payload": "The signal's known fields as JSON, in TradersPost's names (`delay` as the moment it runs), "
        "secrets masked.",
        "extras": "The unknown fields sent with it, as JSON (journaled and ignored), secrets masked (a number holding "
        "one as the string it reads as, masked).",
        "state": "Where the signal is: `received`, `processing`, then final (of several subscriptions' ends, the one "
        "most worth a look).",
        "decision": "What was done and why, one sentence (with several subscriptions: `name: decision; ...`).",
        "received_at": f"When it was accepted ({_TIME}).",
        "updated_at": f"When its state last changed ({_TIME}).",
        "execute_at": f"From `delay`: the moment it executes ({_TIME}); NULL to execute at once.",
        "cancel_after": "The signal's `cancelAfter`, in seconds; NULL when not sent.",
        "token_fingerprint": "An HMAC-SHA256 of the strategy token it came with, keyed by the signal id (reveals no "
        "token): a delayed signal whose token was changed meanwhile is refused at its time. NULL for a job's signal.",
    },
    "executions": {
        "signal_id": "The signal (`signals.id`).",
        "subscription": "The subscription's key: its `name`, else its broker (`<broker>-2`, ... for more on one "
        "broker).",
        "broker": "The broker name the subscription trades at.",
        "ticker": "The signal's ticker.",
        "state": "Where this subscription's handling is: `received` (waiting, or delayed), `processing`, then final.",
        "decision": "What this subscription did and why, one sentence.",
        "started_at": f"When its handling began ({_TIME}); NULL while it waits.",
        "finished_at": f"When it reached its final state ({_TIME}).",
        "lacks": "What the position lacks whatever the plan does (bracket legs a cancel took that cannot be put back), "
        "said at the end of its decision; NULL when nothing.",
    },
    "orders": {
        "id": "The order's id: the same as its `client_order_id`.",
        "signal_id": "The signal whose plan made it (`signals.id`).",
        "broker": "The broker name it was sent to.",
        "subscription": "The subscription's key (`executions.subscription`).",
        "leg": "Its part in the plan.",
        "seq": "Its place in its plan's run order (a bracket's children right after their entry).",
        "client_order_id": "The id sent to the broker: `tb-` and a hash of signal, subscription and leg, so a retry "
        "can never make a second one.",
        "symbol": "The broker's symbol (after `ticker_map`).",
        "side": "Buy or sell.",
        "type": "The order type.",
        "quantity": "The quantity ordered, as exact decimal text.",
        "limit_price": "The limit price, when it has one.",
        "stop_price": "The stop price, when it has one.",
        "time_in_force": "The time in force sent.",
        "reference_price": "The signal's price, passed to the broker as the price the order was planned at (the "
        "paper broker fills a market order at it); NULL when the signal had none, and for a stop put back.",
        "status": "What the broker last said of it; `pending`: planned, not sent yet; `unknown`: the answer was lost, "
        "and the order is looked up until its outcome is known.",
        "broker_order_id": "The broker's own id for it, once it answered.",
        "filled_quantity": "How much of it filled (it never goes down), as exact decimal text.",
        "avg_fill_price": "The average fill price, once it filled.",
        "error": "Why it was rejected, canceled, not sent or is of unknown outcome, as the broker or the bridge said "
        "it (secrets masked).",
        "created_at": f"When it was planned ({_TIME}).",
        "updated_at": f"When its row last changed ({_TIME}).",
        "trail_amount": "A trailing stop's trail, in price.",
        "trail_percent": "A trailing stop's trail, in percent.",
        "extended_hours": "1 when it may fill outside regular trading hours.",
        "parent_client_order_id": "A bracket leg's entry (its `client_order_id`); NULL for an order of its own.",
        "cancel_after": "The `cancelAfter` in force when it was planned (the signal's, else its subscription's), in "
        "seconds: an entry or exit left unfilled that long after it was sent is canceled. NULL: none.",
        "cancel_after_recorded": "1 on every row written since `cancel_after` was recorded (0: an older row, whose "
        "NULL `cancel_after` says nothing).",
        "sent_at": f"When it went to the broker ({_TIME}); NULL while not sent (or sent before a restart lost the "
        "answer).",
        "unfollowed": "1 for an order the bridge no longer follows: of unknown outcome when its broker name was "
        "removed or found to open another account, it may be at the account the name opened before.",
        "replaces": "For a breakeven stop that replaces a working stop in one step at the venue: that stop's "
        "`client_order_id`.",
        "moves": "For a breakeven stop placed beside working stops and then canceling them: their `client_order_id`s, "
        "as a JSON list.",
        "closed_position_at": f"On an exit of all of the position the account held: when that position's read began "
        f"({_TIME}).",
        "closed_by": "Once such an exit filled, its `client_order_id`, on it and on every order in its symbol at its "
        "broker final before that read: their fills are no share of what is held since; or `flat ` and the moment "
        "a read of the positions that found the symbol flat began, on every order there placed and final before it. "
        "NULL: counted.",
        "resting_at_read": "On an exit of all of the position: the `client_order_id`s (a JSON list) of the orders its "
        "read listed working with nothing filled and left working; they stay counted when it marks the rest. NULL: "
        "none.",
    },
    "idempotency_keys": {
        "strategy": "The strategy the key was sent to.",
        "key": "The key's SHA-256 (hex): from a signed `webhook-id`, else `Idempotency-Key`, else the `idempotencyKey` "
        "field, else an unsigned `webhook-id`.",
        "signal_id": "The signal the key made (`signals.id`).",
        "created_at": f"When it was first used ({_TIME}); kept `idempotency_retention_days`.",
    },
    "recent_content": {
        "strategy": "The strategy.",
        "ticker": "The ticker.",
        "sha256": "The SHA-256 (hex) of the last accepted signal's body, as sent.",
        "signal_id": "That signal (`signals.id`).",
        "received_at": f"When it was accepted ({_TIME}).",
    },
    "trading_state": {
        "id": "Always 1: there is one row (none until the first halt).",
        "halted": "1 while trading is halted: no new order is sent (cancels still are).",
        "reason": "The reason given with the halt; NULL after a resume.",
        "changed_at": f"When it was last halted or resumed ({_TIME}).",
        "changed_by": "Who changed it: `api` (the admin API, and `bridge halt` through it), `cli` (`bridge halt` "
        "writing the journal itself) or `dashboard`.",
    },
    "broker_identities": {
        "name": "The broker name in the config.",
        "fingerprint": "The SHA-256 of its plugin and options, credentials left out.",
        "recorded_at": f"When it was recorded ({_TIME}).",
        "credentials": "An HMAC-SHA256 of its credential options under `identity_key.key` (the credentials are never "
        "stored); NULL: recorded before this was.",
        "plugin": "Its plugin; NULL: recorded before this was.",
    },
    "identity_key": {
        "id": "Always 1: there is one row.",
        "key": "32 random bytes (SQLite's `randomblob`), made once by the migration that added the table; no "
        "credential.",
    },
    "paper_accounts": {
        "broker": "The paper broker's name.",
        "cash": "Its cash, as exact decimal text (until the first fill, the `cash` option stands).",
    },
    "paper_orders": {
        "broker": "The paper broker's name.",
        "client_order_id": "The order's client order id (`orders.client_order_id`).",
        "broker_order_id": "The id the paper broker gave it (`paper-...`).",
        "symbol": "The symbol.",
        "side": "Buy or sell.",
        "type": "The order type.",
        "quantity": "The quantity, as exact decimal text.",
        "limit_price": "The limit price, when it has one.",
        "stop_price": "The stop price (a trailing stop's, as it trails), when it has one.",
        "time_in_force": "The time in force.",
        "status": "`open`, `held` (a bracket leg waiting for its entry to fill), `filled` or `canceled`.",
        "filled_quantity": "How much filled (the book fills an order whole or not at all).",
        "avg_fill_price": "The fill price, once filled.",
        "created_at": f"When it was placed ({_TIME}).",
        "updated_at": f"When its row last changed ({_TIME}).",
        "trail_amount": "A trailing stop's trail, in price.",
        "trail_percent": "A trailing stop's trail, in percent.",
        "trail_ref": "A trailing stop's best price seen since it began trailing (highest for a sell, lowest for a "
        "buy); a stop limit's triggering price once it triggered.",
        "extended_hours": "1 when it may fill outside regular trading hours.",
        "parent_client_order_id": "A bracket leg's entry; NULL for an order of its own.",
        "expires_at": f"When a `day` (`opg`, `cls`) order is canceled: the session close ({_TIME}); NULL: it does not "
        "expire.",
        "reduce_only": "1 for an order that only closes the position (an exit, a breakeven stop, a stop put back).",
    },
    "paper_positions": {
        "broker": "The paper broker's name.",
        "symbol": "The symbol.",
        "quantity": "The position, as exact decimal text: negative when short.",
        "avg_price": "The average entry price; NULL when flat.",
    },
    "paper_fills": {
        "id": "The fill's number, in order.",
        "broker": "The paper broker's name.",
        "client_order_id": "The order that filled (`paper_orders.client_order_id`).",
        "symbol": "The symbol.",
        "side": "Buy or sell.",
        "quantity": "The quantity filled.",
        "price": "The fill price.",
        "filled_at": f"When it filled ({_TIME}).",
    },
    "paper_prices": {
        "broker": "The paper broker's name.",
        "symbol": "The symbol.",
        "price": "The last price seen.",
        "seen_at": f"When it was seen ({_TIME}).",
    },
}
