"""Validation of the example bank's request objects, each to its OBIE schema: a bad member is a
`BankError` 400 naming the field in `Path` (G-13), never an exception that escapes.

- `OBEventSubscription1` (POST /event-subscriptions, ES-04): closed top level, `Data` object,
  `Version` string 1..10, `CallbackUrl` a URI ending in `/v{major}.{minor}/event-notifications`
  (ES-05), `EventTypes` an array of supported OBEventType1Code strings (ES-07).
- `OBEventSubscriptionResponse1` (PUT, ES-10): the same `Data` plus `EventSubscriptionId`
  (1..40, the path's id); `Links` and `Meta` allowed at the top level, nothing else.
- `OBEventPolling1` (POST /events, AP-04): closed; `maxEvents` integer >= 0,
  `returnImmediately` boolean, `ack` strings 1..128, `setErrs` objects of `err` 1..40 and
  `description` 1..256.
"""

import json
import re
from urllib.parse import urlsplit

from bank_core import BankError, event_urn

CALLBACK_SUFFIX = re.compile(r"/v\d+\.\d+/event-notifications$")


def parse_json(raw):
    """The JSON document of a request body (UK.OBIE.Resource.InvalidFormat if it is none)."""
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BankError(400, "UK.OBIE.Resource.InvalidFormat",
                        f"the body is not a JSON document: {e}") from None


def _invalid(path, message):
    return BankError(400, "UK.OBIE.Field.Invalid", message, path)


def _missing(path):
    return BankError(400, "UK.OBIE.Field.Missing", f"{path} is required", path)


def _closed(doc, allowed, where=""):
    if not isinstance(doc, dict):
        raise BankError(400, "UK.OBIE.Resource.InvalidFormat",
                        "the body must be a JSON object")
    for key in doc:
        if key not in allowed:
            raise BankError(400, "UK.OBIE.Field.Unexpected",
                            f"{where}{key} is not a member of this object", where + key)


def _text(data, name, low, high, required):
    path = f"Data.{name}"
    if name not in data:
        if required:
            raise _missing(path)
        return None
    value = data[name]
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _invalid(path, f"{path} must be a string of {low} to {high} characters")
    return value


def _callback_url(data):
    url = data.get("CallbackUrl")
    if "CallbackUrl" not in data:
        return None
    if not isinstance(url, str) or len(url) > 2000:
        raise _invalid("Data.CallbackUrl", "Data.CallbackUrl must be a URI")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _invalid("Data.CallbackUrl", "Data.CallbackUrl must be a URI") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise _invalid("Data.CallbackUrl", "Data.CallbackUrl must be an absolute http(s) URI")
    if parts.query or parts.fragment or not CALLBACK_SUFFIX.search(parts.path):
        raise _invalid("Data.CallbackUrl", "Data.CallbackUrl must end with the API version "
                       "followed by /event-notifications, e.g. /v3.1/event-notifications")
    return url


def _event_types(data):
    if "EventTypes" not in data:
        return None
    types = data["EventTypes"]
    if not isinstance(types, list) or not types:
        raise _invalid("Data.EventTypes", "Data.EventTypes must be a non-empty array "
                       "(omit it to subscribe to every supported type)")
    for i, t in enumerate(types):
        if not isinstance(t, str):
            raise _invalid(f"Data.EventTypes[{i}]", "each event type must be a string")
        if event_urn(t) is None:
            raise BankError(400, "UK.OBIE.Unsupported.EventType",
                            f"event type {t[:100]} is not supported", f"Data.EventTypes[{i}]")
    return list(types)


def _data(doc):
    if "Data" not in doc:
        raise _missing("Data")
    data = doc["Data"]
    if not isinstance(data, dict):
        raise _invalid("Data", "Data must be an object")
    return data


def subscription(doc):
    """(Version, CallbackUrl, EventTypes) of an OBEventSubscription1."""
    _closed(doc, {"Data"})
    data = _data(doc)
    version = _text(data, "Version", 1, 10, True)
    return version, _callback_url(data), _event_types(data)


def replacement(doc, path_id):
    """(Version, CallbackUrl, EventTypes) of the OBEventSubscriptionResponse1 a PUT sends."""
    _closed(doc, {"Data", "Links", "Meta"})
    data = _data(doc)
    sub_id = _text(data, "EventSubscriptionId", 1, 40, True)
    if sub_id != path_id:
        raise _invalid("Data.EventSubscriptionId",
                       "Data.EventSubscriptionId must be the id in the URL")
    version = _text(data, "Version", 1, 10, True)
    return version, _callback_url(data), _event_types(data)


def _jti_list(value):
    if not isinstance(value, list):
        raise _invalid("ack", "ack must be an array of jti strings")
    for i, jti in enumerate(value):
        if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
            raise _invalid(f"ack[{i}]", "each ack item must be a string of 1 to 128 characters")
    return value


def _set_errs(value):
    if not isinstance(value, dict):
        raise _invalid("setErrs", "setErrs must be an object keyed by jti")
    for jti, entry in value.items():
        path = f"setErrs.{jti[:64]}"
        if not isinstance(entry, dict):
            raise _invalid(path, f"{path} must be an object with err and description")
        for name, high in (("err", 40), ("description", 256)):
            text = entry.get(name)
            if not isinstance(text, str) or not 1 <= len(text) <= high:
                raise _invalid(f"{path}.{name}",
                               f"{path}.{name} must be a string of 1 to {high} characters")
    return value


def poll(doc):
    """(maxEvents or None, returnImmediately, ack, setErrs) of an OBEventPolling1."""
    _closed(doc, {"maxEvents", "returnImmediately", "ack", "setErrs"})
    max_events = doc.get("maxEvents")
    if max_events is not None:
        integral = isinstance(max_events, int) or (
            isinstance(max_events, float) and max_events.is_integer())
        if isinstance(max_events, bool) or not integral or max_events < 0:
            raise _invalid("maxEvents", "maxEvents must be an integer of 0 or more")
        max_events = int(max_events)
    immediately = doc.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise _invalid("returnImmediately", "returnImmediately must be true or false")
    ack = _jti_list(doc.get("ack", []))
    set_errs = _set_errs(doc.get("setErrs", {}))
    return max_events, immediately, ack, set_errs


def trigger(doc):
    """(client_id, event URN, resource_id, resource_type) of a POST /test/events body."""
    _closed(doc, {"client_id", "event_type", "resource_id", "resource_type"})
    values = {}
    for name in ("client_id", "event_type", "resource_id", "resource_type"):
        value = doc.get(name)
        if value is None and name == "resource_type":
            continue
        if not isinstance(value, str) or not 1 <= len(value) <= 128:
            raise _invalid(name, f"{name} must be a string of 1 to 128 characters")
        values[name] = value
    urn = event_urn(values["event_type"])
    if urn is None:
        raise BankError(400, "UK.OBIE.Unsupported.EventType",
                        f"event type {values['event_type']} is not supported", "event_type")
    return values["client_id"], urn, values["resource_id"], values.get("resource_type")
