"""M-Pesa through Safaricom's Daraja API: the client, callback parsing and a local simulator.

The simulator (``simulator.py``, ``cli.py``) is not imported here: production code never
needs it.
"""

from __future__ import annotations

from gamehub.payments.mpesa.callbacks import (
    B2CResult,
    CallbackFormatError,
    ResultEnvelope,
    StkCallback,
    TransactionStatusResult,
    parse_b2c_result,
    parse_result,
    parse_stk_callback,
    parse_transaction_status_result,
)
from gamehub.payments.mpesa.client import (
    DarajaClient,
    DarajaConfig,
    DarajaError,
    DarajaUnavailable,
    RequestAccepted,
    SharedTokenCache,
    StkPending,
    StkPushAccepted,
    StkQueryResult,
    TokenCache,
    TokenStore,
    normalise_msisdn,
)

__all__ = [
    "B2CResult",
    "CallbackFormatError",
    "DarajaClient",
    "DarajaConfig",
    "DarajaError",
    "DarajaUnavailable",
    "RequestAccepted",
    "ResultEnvelope",
    "SharedTokenCache",
    "StkCallback",
    "StkPending",
    "StkPushAccepted",
    "StkQueryResult",
    "TokenCache",
    "TokenStore",
    "TransactionStatusResult",
    "normalise_msisdn",
    "parse_b2c_result",
    "parse_result",
    "parse_stk_callback",
    "parse_transaction_status_result",
]
