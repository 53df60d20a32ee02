"""M-Pesa's side of payments: callback parsing and a local simulator. The Daraja client
itself is infrastructure, in :mod:`gamehub.core.mpesa`.

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

__all__ = [
    "B2CResult",
    "CallbackFormatError",
    "ResultEnvelope",
    "StkCallback",
    "TransactionStatusResult",
    "parse_b2c_result",
    "parse_result",
    "parse_stk_callback",
    "parse_transaction_status_result",
]
