from __future__ import annotations

import contextlib
import copy
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamehub.core.mpesa.credentials import EAT
from gamehub.payments.mpesa.callbacks import (
    CallbackFormatError,
    parse_b2c_result,
    parse_result,
    parse_stk_callback,
    parse_transaction_status_result,
)

# Verbatim from the protocol reference, §3.
STK_SUCCESS = b"""{"Body":{"stkCallback":{
  "MerchantRequestID":"29115-34620561-1",
  "CheckoutRequestID":"ws_CO_191220191020363925",
  "ResultCode":0,
  "ResultDesc":"The service request is processed successfully.",
  "CallbackMetadata":{"Item":[
    {"Name":"Amount","Value":1.00},
    {"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},
    {"Name":"Balance"},
    {"Name":"TransactionDate","Value":20191219102115},
    {"Name":"PhoneNumber","Value":254708374149}]}}}}"""

STK_CANCELLED: dict[str, Any] = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925",
            "ResultCode": 1032,
            "ResultDesc": "Request cancelled by user",
        }
    }
}

B2C_SUCCESS: dict[str, Any] = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "600997_Test_32et3241ed8yu",
        "ConversationID": "AG_20240706_2010364430d9bbdaf872",
        "TransactionID": "SG632NMUAB",
        "ResultParameters": {
            "ResultParameter": [
                {"Key": "TransactionAmount", "Value": 10},
                {"Key": "TransactionReceipt", "Value": "SG632NMUAB"},
                {"Key": "ReceiverPartyPublicName", "Value": "254705912645 - NICHOLAS JOHN SONGOK"},
                {"Key": "TransactionCompletedDateTime", "Value": "06.07.2024 22:48:52"},
                {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
                {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1199371.00},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -1980.00},
            ]
        },
        "ReferenceData": {
            "ReferenceItem": {
                "Key": "QueueTimeoutURL",
                "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
            }
        },
    }
}

# Observed (dkiptugen/mpesa-php-full-integration#1): a failure with a placeholder TransactionID.
STATUS_FAILURE: dict[str, Any] = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 2001,
        "ResultDesc": "The initiator information is invalid.",
        "OriginatorConversationID": "6618-1387084-1",
        "ConversationID": "AG_20180128_0000650adeb6d1e32571",
        "TransactionID": "MAS0000000",
        "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": "xf"}},
    }
}

STATUS_SUCCESS: dict[str, Any] = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 0,
        "ResultDesc": "The service request has been accepted successfully.",
        "OriginatorConversationID": "10816-694520-2",
        "ConversationID": "AG_20200927_00007d4c98884c889b25",
        "TransactionID": "NLJ41HAY6Q",
        "ResultParameters": {
            "ResultParameter": [
                {"Key": "DebitPartyName", "Value": "600997 - GAME HUB"},
                {"Key": "CreditPartyName", "Value": "254708374149 - JOHN DOE"},
                {"Key": "Originator Conversation ID", "Value": "gh-w-1"},
                {"Key": "InitiatedTime", "Value": 20200927113216},
                {"Key": "DebitAccountType", "Value": "Utility Account"},
                {"Key": "DebitPartyCharges", "Value": "Fee For B2C Payment|KES|22.40"},
                {"Key": "TransactionReason"},
                {"Key": "ReasonType", "Value": "Business Payment to Customer via API"},
                {"Key": "TransactionStatus", "Value": "Completed"},
                {"Key": "FinalisedTime", "Value": 20200927113216},
                {"Key": "Amount", "Value": 100.0},
                {"Key": "Conversation ID", "Value": "AG_20200927_000041d4e4e8a1f0e2d3"},
                {"Key": "ReceiptNo", "Value": "NIR31HAY6Q"},
            ]
        },
        "ReferenceData": {"ReferenceItem": [{"Key": "Occasion"}]},
    }
}


def with_change(payload: dict[str, Any], change: Any) -> dict[str, Any]:
    copied = copy.deepcopy(payload)
    change(copied)
    return copied


def stk_items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    return items


def test_stk_success_sample() -> None:
    callback = parse_stk_callback(STK_SUCCESS)
    assert callback.succeeded
    assert callback.merchant_request_id == "29115-34620561-1"
    assert callback.checkout_request_id == "ws_CO_191220191020363925"
    assert callback.result_code == "0"
    assert callback.amount_kes == 1
    assert callback.receipt_number == "NLJ7RT61SV"
    assert callback.transaction_date == datetime(2019, 12, 19, 10, 21, 15, tzinfo=EAT)
    assert callback.phone_number == "254708374149"


def test_stk_failure_has_no_metadata() -> None:
    callback = parse_stk_callback(json.dumps(STK_CANCELLED))
    assert not callback.succeeded
    assert callback.result_code == "1032"
    assert callback.result_desc == "Request cancelled by user"
    assert callback.amount_kes is None
    assert callback.receipt_number is None


def test_stk_tolerates_string_codes_reordered_and_missing_items() -> None:
    payload = json.loads(STK_SUCCESS)
    callback_body = payload["Body"]["stkCallback"]
    callback_body["ResultCode"] = "0"
    callback_body["CallbackMetadata"]["Item"] = [
        {"Name": "PhoneNumber", "Value": "254708374149"},
        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
        {"Name": "Amount", "Value": "1.00"},
    ]
    callback = parse_stk_callback(payload)
    assert callback.succeeded
    assert callback.amount_kes == 1
    assert callback.transaction_date is None
    assert callback.phone_number == "254708374149"


def test_stk_accepts_a_bare_item_object_on_failure_metadata() -> None:
    payload = with_change(
        STK_CANCELLED,
        lambda p: p["Body"]["stkCallback"].update(
            CallbackMetadata={"Item": {"Name": "Balance"}}, ResultCode="1037"
        ),
    )
    assert parse_stk_callback(payload).result_code == "1037"


def test_stk_keys_are_matched_leniently() -> None:
    payload = {
        "Body": {
            "stkCallback": {
                "Merchant Request ID": "m-1",
                "checkoutRequestId": "ws_CO_1",
                "resultCode": 1,
                "ResultDesc": "The balance is insufficient for the transaction.",
            }
        }
    }
    callback = parse_stk_callback(payload)
    assert (callback.merchant_request_id, callback.checkout_request_id) == ("m-1", "ws_CO_1")
    assert callback.result_code == "1"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "body must be an object"),
        ({}, "Body must be an object, found missing"),
        ({"Body": {"stkCallback": []}}, "stkCallback must be an object"),
        (
            with_change(STK_CANCELLED, lambda p: p["Body"]["stkCallback"].pop("ResultCode")),
            "ResultCode",
        ),
        (
            with_change(STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(ResultCode=True)),
            "ResultCode",
        ),
        (
            with_change(STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(ResultCode=0.0)),
            "ResultCode",
        ),
        (
            with_change(STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(ResultCode=" ")),
            "ResultCode",
        ),
        (
            with_change(
                STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(CheckoutRequestID=5)
            ),
            "CheckoutRequestID must be a string",
        ),
        (
            with_change(
                STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(CheckoutRequestID="")
            ),
            "CheckoutRequestID is missing",
        ),
        (
            with_change(STK_CANCELLED, lambda p: p["Body"]["stkCallback"].update(ResultCode=0)),
            "CallbackMetadata must be an object",
        ),
    ],
)
def test_stk_structure_errors(payload: Any, message: str) -> None:
    with pytest.raises(CallbackFormatError, match=message):
        parse_stk_callback(payload)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda items: items.pop(0), "no Amount"),
        (lambda items: items.pop(1), "no MpesaReceiptNumber"),
        (lambda items: items[0].update(Value=1.5), "whole"),
        (lambda items: items[0].update(Value="one"), "Amount must be a number"),
        (lambda items: items[0].update(Value=True), "Amount must be a number"),
        (lambda items: items[0].update(Value=-1), "non-negative"),
        (lambda items: items[1].update(Value=12345), "MpesaReceiptNumber must be a string"),
        (lambda items: items[3].update(Value=2019121910211), "YYYYMMDDHHmmss"),
        (lambda items: items[3].update(Value=20191319102115), "YYYYMMDDHHmmss"),
        (lambda items: items[3].update(Value=20191219102115.0), "digits"),
        (lambda items: items[4].update(Value="+254708374149"), "PhoneNumber"),
        (lambda items: items[2].pop("Name"), r"Item\[2\] has no Name"),
        (lambda items: items.append("Balance"), r"Item\[5\] must be an object"),
    ],
)
def test_stk_metadata_errors(change: Any, message: str) -> None:
    payload = json.loads(STK_SUCCESS)
    change(stk_items(payload))
    with pytest.raises(CallbackFormatError, match=message):
        parse_stk_callback(payload)


def test_stk_metadata_item_must_be_a_list_or_object() -> None:
    payload = json.loads(STK_SUCCESS)
    payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = "Amount=1"
    with pytest.raises(CallbackFormatError, match="must be a list or an object"):
        parse_stk_callback(payload)


def test_b2c_success_with_a_bare_reference_item() -> None:
    result = parse_b2c_result(json.dumps(B2C_SUCCESS).encode())
    assert result.succeeded
    assert result.result_code == "0"
    assert result.originator_conversation_id == "600997_Test_32et3241ed8yu"
    assert result.conversation_id == "AG_20240706_2010364430d9bbdaf872"
    assert result.transaction_id == "SG632NMUAB"
    assert result.amount_kes == 10
    assert result.receipt == "SG632NMUAB"
    assert result.receiver_public_name == "254705912645 - NICHOLAS JOHN SONGOK"
    assert result.completed_at == datetime(2024, 7, 6, 22, 48, 52, tzinfo=EAT)
    assert result.recipient_registered is True
    assert result.parameter("B2CUtilityAccountAvailableFunds") == 8959269.60
    assert result.reference_items == {
        "QueueTimeoutURL": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"
    }


def test_b2c_bare_result_parameter() -> None:
    payload = with_change(
        B2C_SUCCESS,
        lambda p: p["Result"]["ResultParameters"].update(
            ResultParameter={"Key": "TransactionReceipt", "Value": "SG632NMUAB"}
        ),
    )
    result = parse_b2c_result(payload)
    assert result.receipt == "SG632NMUAB"
    assert result.amount_kes is None
    assert result.recipient_registered is None


def test_b2c_failure_with_a_string_code_and_no_parameters() -> None:
    payload = with_change(
        B2C_SUCCESS,
        lambda p: (
            p["Result"].pop("ResultParameters"),
            p["Result"].update(ResultCode="SFC_IC0003", ResultDesc="The operator does not exist."),
        ),
    )
    result = parse_b2c_result(payload)
    assert not result.succeeded
    assert result.result_code == "SFC_IC0003"
    assert result.receipt is None
    assert result.parameters == {}


def test_queue_timeout_envelope() -> None:
    payload = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 1,
            "ResultDesc": "The service request has timed out.",
            "OriginatorConversationID": "gh-w-1",
            "ConversationID": "AG_20240706_1",
        }
    }
    result = parse_b2c_result(payload)
    assert result.result_code == "1"
    assert result.transaction_id is None
    assert result.reference_items == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("ConversationID"), "ConversationID is missing"),
        (lambda r: r.update(OriginatorConversationID=7), "must be a string"),
        (lambda r: r.update(ResultCode=None), "ResultCode"),
        (lambda r: r.update(ResultParameters=[]), "ResultParameters must be an object"),
        (lambda r: r.update(ResultParameters={"ResultParameter": 3}), "list or an object"),
        (lambda r: r.update(ReferenceData="x"), "ReferenceData must be an object"),
        (
            lambda r: r["ResultParameters"]["ResultParameter"][0].update(Value="ten"),
            "TransactionAmount must be a number",
        ),
        (
            lambda r: r["ResultParameters"]["ResultParameter"][3].update(Value="2024-07-06"),
            "DD.MM.YYYY",
        ),
        (
            lambda r: r["ResultParameters"]["ResultParameter"][6].update(Value="yes"),
            "'Y' or 'N'",
        ),
        (
            lambda r: r["ResultParameters"]["ResultParameter"][1].update(Value=None),
            None,
        ),
    ],
)
def test_b2c_errors(change: Any, message: str | None) -> None:
    payload = copy.deepcopy(B2C_SUCCESS)
    change(payload["Result"])
    if message is None:
        # A parameter with no Value is tolerated (Daraja sends "Balance" that way).
        assert parse_b2c_result(payload).receipt is None
        return
    with pytest.raises(CallbackFormatError, match=message):
        parse_b2c_result(payload)


def test_b2c_result_needs_the_result_object() -> None:
    with pytest.raises(CallbackFormatError, match="Result must be an object"):
        parse_b2c_result({"result": "ok"})


def test_transaction_status_with_spaced_keys() -> None:
    result = parse_transaction_status_result(STATUS_SUCCESS)
    assert result.completed
    assert result.originator_conversation_id == "10816-694520-2"
    assert result.receipt_no == "NIR31HAY6Q"
    assert result.transaction_status == "Completed"
    assert result.amount_kes == 100
    assert result.transaction_originator_conversation_id == "gh-w-1"
    assert result.transaction_conversation_id == "AG_20200927_000041d4e4e8a1f0e2d3"
    assert result.finalised_at == datetime(2020, 9, 27, 11, 32, 16, tzinfo=EAT)
    assert result.parameter("debit party charges") == "Fee For B2C Payment|KES|22.40"
    assert result.parameter("TransactionReason") is None
    assert result.reference_items == {"Occasion": None}


def test_transaction_status_of_a_failed_payment_is_not_completed() -> None:
    payload = copy.deepcopy(STATUS_SUCCESS)
    payload["Result"]["ResultParameters"]["ResultParameter"][8]["Value"] = "Failed"
    result = parse_transaction_status_result(payload)
    assert result.succeeded
    assert not result.completed


def test_transaction_status_failure() -> None:
    result = parse_transaction_status_result(STATUS_FAILURE)
    assert result.result_code == "2001"
    assert not result.completed
    assert result.transaction_id == "MAS0000000"
    assert result.receipt_no is None
    assert result.reference_items == {"Occasion": "xf"}


def test_transaction_status_bad_finalised_time() -> None:
    payload = copy.deepcopy(STATUS_SUCCESS)
    payload["Result"]["ResultParameters"]["ResultParameter"][9]["Value"] = "yesterday"
    with pytest.raises(CallbackFormatError, match="FinalisedTime"):
        parse_transaction_status_result(payload)


def test_parse_result_is_the_common_envelope() -> None:
    envelope = parse_result(STATUS_SUCCESS)
    assert envelope.succeeded
    assert envelope.parameter("ConversationID") == "AG_20200927_000041d4e4e8a1f0e2d3"
    assert envelope.parameter("Missing") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Body", "stkCallback", "Result", "ResultCode", "Item", "Name", "Key"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(json_values)
def test_arbitrary_json_is_parsed_or_refused_cleanly(value: Any) -> None:
    for parse in (parse_stk_callback, parse_b2c_result, parse_transaction_status_result):
        with contextlib.suppress(CallbackFormatError):
            parse({"Body": {"stkCallback": value}, "Result": value})


@given(st.binary(max_size=64))
def test_arbitrary_bytes_are_parsed_or_refused_cleanly(raw: bytes) -> None:
    with pytest.raises(CallbackFormatError):
        parse_stk_callback(raw)
