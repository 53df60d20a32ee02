"""The simulator's configuration and its scenario table (see the package docstring)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SUCCESS_DESC = "The service request is processed successfully."
WRONG_INITIATOR = "The initiator information is invalid."
TIMEOUT_DESC = "The service request has timed out."
NOT_FOUND_CODE = "SIM_NOT_FOUND"
DEFAULT_KEYS_DIR = Path("var/mpesa-sim")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    consumer_key: str = "gamehub-sim-key"
    consumer_secret: str = "gamehub-sim-secret"
    shortcode: str = "174379"
    passkey: str = SANDBOX_PASSKEY
    b2c_shortcode: str = "600997"
    initiator_name: str = "testapi"
    initiator_password: str = "Safaricom999!*!"
    keys_dir: Path = DEFAULT_KEYS_DIR
    callback_delay_seconds: float = 0.2
    late_callback_delay_seconds: float = 3.0
    token_ttl_seconds: int = 3600


class Delivery(enum.Enum):
    ONCE = "once"
    NEVER = "never"
    TWICE = "twice"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Scenario:
    result_code: int | str
    result_desc: str
    delivery: Delivery = Delivery.ONCE
    # B2C only: the caller hears a QueueTimeOut; result_code is what really happened.
    queue_timeout: bool = False
    # STK only: the customer answers after late_callback_delay; the query says "being
    # processed" until then.
    slow_customer: bool = False

    @property
    def succeeded(self) -> bool:
        return self.result_code == 0


SUCCESS = Scenario(0, SUCCESS_DESC)
_INSUFFICIENT = Scenario(1, "The balance is insufficient for the transaction.")
_CANCELLED = Scenario(1032, "Request cancelled by user")
STK_SCENARIOS: dict[int, Scenario] = {
    11: _INSUFFICIENT,
    21: Scenario(2001, WRONG_INITIATOR),
    32: _CANCELLED,
    33: Scenario(_CANCELLED.result_code, _CANCELLED.result_desc, Delivery.LATE),
    37: Scenario(1037, "DS timeout user cannot be reached"),
    91: Scenario(0, SUCCESS_DESC, Delivery.NEVER),
    92: Scenario(0, SUCCESS_DESC, Delivery.TWICE),
    93: Scenario(0, SUCCESS_DESC, Delivery.LATE),
    96: Scenario(0, SUCCESS_DESC, Delivery.LATE, slow_customer=True),
}
B2C_SCENARIOS: dict[int, Scenario] = {
    11: _INSUFFICIENT,
    3: Scenario("SFC_IC0003", "The operator does not exist."),
    40: Scenario(
        2040,
        "Credit Party customer type (Unregistered or Registered Customer) can't be supported "
        "by the service.",
    ),
    91: Scenario(0, SUCCESS_DESC, Delivery.NEVER),
    92: Scenario(0, SUCCESS_DESC, Delivery.TWICE),
    93: Scenario(0, SUCCESS_DESC, Delivery.LATE),
    94: Scenario(0, SUCCESS_DESC, queue_timeout=True),
    95: Scenario(_INSUFFICIENT.result_code, _INSUFFICIENT.result_desc, queue_timeout=True),
}
PROMPT_TOO_LONG = Scenario(1025, "An error occurred while sending a push request.")
WRONG_INITIATOR_SCENARIO = Scenario(2001, WRONG_INITIATOR)
