"""HubSpot's write side, as the CRM write-back uses it: properties, property groups and the batch
update of contacts and companies. Serve it with ``FakeApi(fake.routes(), check_auth=...)``.

It keeps what was created and written (:attr:`FakeHubSpotWrites.properties`, ``groups``,
``records``) and validates like HubSpot does what the write-back depends on: a property must
exist before a record gets a value for it, a dropdown value must be one of its options, a date
property takes midnight UTC in epoch milliseconds, a text value holds at most 65,536 characters,
a batch at most 100 inputs. Ids the fake does not know (``known_ids``) are refused as HubSpot
does: the whole batch with 400 ``OBJECT_NOT_FOUND`` (``missing="400"``) or a 207 listing them
(``missing="207"``).

Every body it answers is kept in :attr:`FakeHubSpotWrites.served` with the SDK model it stands
for; :meth:`FakeHubSpotWrites.check_sdk` deserializes those, and every request body in a
server's log, through the official ``hubspot-api-client`` models with client-side validation on.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from datetime import UTC, datetime

from tests.fakes.server import FakeApi, Reply, Request

OBJECT_TYPES = ("contacts", "companies")
BATCH_LIMIT = 100
TEXT_MAX_CHARS = 65_536
NOW = "2026-11-21T00:05:00.000Z"

_TYPE = r"(contacts|companies)"
#: The SDK module of each part of the API the fake plays.
SDK = {
    "contacts": "hubspot.crm.contacts",
    "companies": "hubspot.crm.companies",
    "properties": "hubspot.crm.properties",
}
#: Which SDK request model a request body must fit: (method, path pattern) -> (module, model).
BATCH_INPUT = "BatchInputSimplePublicObjectBatchInput"
REQUEST_MODELS = (
    ("POST", rf"^/crm/v3/objects/{_TYPE}/batch/update$", None, BATCH_INPUT),
    ("POST", rf"^/crm/v3/properties/{_TYPE}/groups$", "properties", "PropertyGroupCreate"),
    ("POST", rf"^/crm/v3/properties/{_TYPE}$", "properties", "PropertyCreate"),
    ("PATCH", rf"^/crm/v3/properties/{_TYPE}/[a-z0-9_]+$", "properties", "PropertyUpdate"),
)  # fmt: skip
VALID_FIELD_TYPES = {
    "string": {"text", "textarea", "file", "html", "phonenumber"},
    "number": {"number", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"},
    "bool": {"booleancheckbox"},
}
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _default_property(name: str, label: str, group: str, type_: str, field_type: str) -> dict:
    return _property(
        {"name": name, "label": label, "groupName": group, "type": type_, "fieldType": field_type},
        hubspot_defined=True,
    )


def _property(body: dict, *, hubspot_defined: bool = False) -> dict:
    """A property as HubSpot answers it (``Property``)."""
    return {
        "name": body["name"],
        "label": body["label"],
        "description": body.get("description", ""),
        "groupName": body["groupName"],
        "type": body["type"],
        "fieldType": body["fieldType"],
        "options": [
            {
                "label": o["label"],
                "value": o["value"],
                "displayOrder": o.get("displayOrder", i),
                "hidden": o.get("hidden", False),
            }
            for i, o in enumerate(body.get("options") or [])
        ],
        "displayOrder": body.get("displayOrder", -1),
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": body.get("hidden", False),
        "formField": body.get("formField", False),
        "hubspotDefined": hubspot_defined,
        "createdAt": NOW,
        "updatedAt": NOW,
        "archived": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": False,
        },
    }


def _error(category: str, message: str, **context: list[str]) -> dict:
    """An error body as HubSpot answers it (``Error``)."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if context:
        body["context"] = context
    return body


class FakeHubSpotWrites:
    """The properties, groups and records of one HubSpot account, and what was written."""

    def __init__(
        self,
        token: str,
        *,
        known_ids: dict[str, set[str]] | None = None,
        missing: str = "400",
    ) -> None:
        self.token = token
        #: object type -> ids that exist; None: every id exists
        self.known_ids = known_ids
        self.missing = missing
        self.groups: dict[str, dict[str, dict]] = {
            "contacts": {"contactinformation": self._group("contactinformation", "Contact")},
            "companies": {"companyinformation": self._group("companyinformation", "Company")},
        }
        self.properties: dict[str, dict[str, dict]] = {
            "contacts": {
                p["name"]: p
                for p in (
                    _default_property("email", "Email", "contactinformation", "string", "text"),
                    _default_property(
                        "firstname", "First Name", "contactinformation", "string", "text"
                    ),
                )
            },
            "companies": {
                p["name"]: p
                for p in (
                    _default_property("name", "Name", "companyinformation", "string", "text"),
                    _default_property("domain", "Domain", "companyinformation", "string", "text"),
                )
            },
        }
        #: object type -> id -> the properties written to it (latest value wins)
        self.records: dict[str, dict[str, dict[str, str]]] = {t: {} for t in OBJECT_TYPES}
        #: (object type, ids) of each batch update that wrote something
        self.batches: list[tuple[str, list[str]]] = []
        #: (SDK module, model, body) of every answer
        self.served: list[tuple[str, str, object]] = []
        #: object type -> [batches to let through first, status, times]: see fail_batch
        self._batch_faults: dict[str, list[int]] = {}

    @staticmethod
    def _group(name: str, label: str) -> dict:
        return {"name": name, "label": label, "displayOrder": -1, "archived": False}

    def fail_batch(self, object_type: str, number: int, status: int = 500, times: int = 1) -> None:
        """Batch update ``number`` (1-based) of ``object_type`` and the next ``times - 1``
        attempts at it get ``status`` (an outage in the middle of a sync)."""
        self._batch_faults[object_type] = [number - 1, status, times]

    def check_auth(self, authorization: str) -> bool:
        return authorization == f"Bearer {self.token}"

    def server(self) -> FakeApi:
        return FakeApi(self.routes(), check_auth=self.check_auth)

    def routes(self) -> list[tuple[str, str, object]]:
        return [
            ("GET", rf"/crm/v3/properties/{_TYPE}/groups", self.list_groups),
            ("POST", rf"/crm/v3/properties/{_TYPE}/groups", self.create_group),
            ("GET", rf"/crm/v3/properties/{_TYPE}", self.list_properties),
            ("POST", rf"/crm/v3/properties/{_TYPE}", self.create_property),
            ("PATCH", rf"/crm/v3/properties/{_TYPE}/([a-z0-9_]+)", self.update_property),
            ("POST", rf"/crm/v3/objects/{_TYPE}/batch/update", self.batch_update),
        ]

    def _reply(self, status: int, module: str, model: str, body: dict) -> Reply:
        self.served.append((SDK[module], model, body))
        return Reply(status, body)

    def _fail(self, status: int, module: str, category: str, message: str, **context) -> Reply:
        return self._reply(status, module, "Error", _error(category, message, **context))

    # ---- properties and groups ----------------------------------------------------------------

    def list_groups(self, request: Request) -> Reply:
        groups = list(self.groups[request.groups[0]].values())
        return self._reply(
            200, "properties", "CollectionResponsePropertyGroupNoPaging", {"results": groups}
        )

    def create_group(self, request: Request) -> Reply:
        object_type, body = request.groups[0], request.body or {}
        if body.get("name") in self.groups[object_type]:
            return self._fail(409, "properties", "CONFLICT", "Group already exists")
        group = self._group(body["name"], body["label"])
        group["displayOrder"] = body.get("displayOrder", -1)
        self.groups[object_type][group["name"]] = group
        return self._reply(201, "properties", "PropertyGroup", group)

    def list_properties(self, request: Request) -> Reply:
        properties = list(self.properties[request.groups[0]].values())
        return self._reply(
            200, "properties", "CollectionResponsePropertyNoPaging", {"results": properties}
        )

    def create_property(self, request: Request) -> Reply:
        object_type, body = request.groups[0], request.body or {}
        name = body.get("name", "")
        if name in self.properties[object_type]:
            return self._fail(409, "properties", "CONFLICT", f"Property {name} already exists")
        problem = self._property_problem(object_type, body)
        if problem:
            return self._fail(400, "properties", "VALIDATION_ERROR", problem)
        self.properties[object_type][name] = _property(body)
        return self._reply(201, "properties", "ModelProperty", self.properties[object_type][name])

    def _property_problem(self, object_type: str, body: dict) -> str | None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", body.get("name", "")):
            return f"Property name {body.get('name')!r} is not valid"
        if body.get("groupName") not in self.groups[object_type]:
            return f"Property group {body.get('groupName')!r} does not exist"
        if body.get("fieldType") not in VALID_FIELD_TYPES.get(body.get("type"), set()):
            return f"fieldType {body.get('fieldType')!r} is not valid for type {body.get('type')!r}"
        if body.get("type") == "enumeration" and not body.get("options"):
            return "An enumeration property needs options"
        return None

    def update_property(self, request: Request) -> Reply:
        object_type, name = request.groups
        current = self.properties[object_type].get(name)
        if current is None:
            return self._fail(404, "properties", "OBJECT_NOT_FOUND", f"No property {name}")
        body = request.body or {}
        updated = _property({**current, **body}, hubspot_defined=current["hubspotDefined"])
        self.properties[object_type][name] = updated
        return self._reply(200, "properties", "ModelProperty", updated)

    # ---- records ------------------------------------------------------------------------------

    def batch_update(self, request: Request) -> Reply:
        object_type, body = request.groups[0], request.body or {}
        inputs = body.get("inputs") or []
        fault = self._batch_faults.get(object_type)
        done = sum(1 for t, _ in self.batches if t == object_type)
        if fault and fault[2] > 0 and done == fault[0]:
            fault[2] -= 1
            return self._fail(fault[1], object_type, "INTERNAL_ERROR", "Something went wrong")
        if len(inputs) > BATCH_LIMIT:
            return self._fail(
                400, object_type, "VALIDATION_ERROR", f"at most {BATCH_LIMIT} inputs per batch"
            )
        problems = [p for i in inputs for p in self._value_problems(object_type, i)]
        if problems:
            return self._fail(
                400,
                object_type,
                "VALIDATION_ERROR",
                "Property values were not valid: " + json.dumps(problems[:10]),
            )
        known = None if self.known_ids is None else self.known_ids.get(object_type, set())
        missing = [i["id"] for i in inputs if known is not None and i["id"] not in known]
        message = (
            f"Could not get some {object_type.upper()[:-1]} objects, they may be deleted or not "
            "exist. Check that ids are valid."
        )
        if missing and self.missing == "400":
            return self._fail(400, object_type, "OBJECT_NOT_FOUND", message, ids=missing)
        written = [i for i in inputs if i["id"] not in missing]
        results = []
        for item in written:
            record = self.records[object_type].setdefault(item["id"], {})
            record.update(item["properties"])
            results.append(
                {
                    "id": item["id"],
                    "properties": {**record, "hs_object_id": item["id"]},
                    "createdAt": NOW,
                    "updatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "archived": False,
                }
            )
        if written:
            self.batches.append((object_type, [i["id"] for i in written]))
        answer = {"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}
        if missing:  # self.missing == "207"
            answer["numErrors"] = 1
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": message,
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return self._reply(
                207, object_type, "BatchResponseSimplePublicObjectWithErrors", answer
            )
        return self._reply(200, object_type, "BatchResponseSimplePublicObject", answer)

    def _value_problems(self, object_type: str, item: dict) -> list[dict]:
        problems = []
        for name, value in (item.get("properties") or {}).items():
            prop = self.properties[object_type].get(name)
            error = None
            if prop is None:
                error = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            elif not isinstance(value, str):
                error = ("INVALID_TYPE", f"{value!r} is not a string")
            elif value == "":
                continue  # clears the property
            elif prop["type"] == "enumeration" and value not in {
                o["value"] for o in prop["options"]
            }:
                error = ("INVALID_OPTION", f"{value!r} was not one of the allowed options")
            elif prop["type"] == "number" and not _is_number(value):
                error = ("INVALID_INTEGER", f"{value!r} is not a valid number")
            elif prop["type"] == "date" and not _is_midnight_ms(value):
                error = ("INVALID_DATE", f"{value!r} is not midnight UTC in epoch milliseconds")
            elif len(value) > TEXT_MAX_CHARS:
                error = ("INVALID_LENGTH", f"longer than {TEXT_MAX_CHARS} characters")
            if error:
                problems.append(
                    {"isValid": False, "error": error[0], "message": error[1], "name": name}
                )
        return problems

    # ---- the SDK as the contract --------------------------------------------------------------

    def check_sdk(self, api: FakeApi) -> int:
        """Deserialize every request body in ``api.log`` and every answer served into the SDK's
        models (client-side validation on); raise ``AssertionError`` for one that does not fit.
        Returns how many bodies were checked."""
        checked = 0
        for request in api.log:
            for method, pattern, module, model in REQUEST_MODELS:
                match = re.match(pattern, request.path)
                if request.method == method and match:
                    sdk_model(SDK[module or match.group(1)], model, request.body, strict=True)
                    checked += 1
                    break
        for module, model, body in self.served:
            sdk_model(module, model, body)
            checked += 1
        return checked


class _Raw:
    """What the SDK's ``ApiClient.deserialize`` reads: a response with ``data``."""

    def __init__(self, body: object) -> None:
        self.data = json.dumps(body)


_CLIENTS: dict[str, object] = {}


def sdk_model(module: str, model: str, body: object, *, strict: bool = False) -> object:
    """``body`` as the SDK model ``model`` of ``module`` (e.g. ``hubspot.crm.properties``).

    Required fields and enum values are checked by the SDK (client-side validation on). With
    ``strict`` (what we send), a key the model does not know, or a value it would change (a
    number where text is due), fails the round trip back to JSON; answers may carry keys the SDK
    does not model (HubSpot's errors have ``status``).
    """
    if module not in _CLIENTS:
        sdk = importlib.import_module(module)
        configuration = sdk.Configuration()
        configuration.client_side_validation = True
        _CLIENTS[module] = sdk.ApiClient(configuration=configuration)
    client = _CLIENTS[module]
    try:
        obj = client.deserialize(_Raw(body), model)
    except (ValueError, TypeError) as err:
        raise AssertionError(f"{model} ({module}) refuses {body!r}: {err}") from err
    back = client.sanitize_for_serialization(obj)
    if strict and _comparable(back) != _comparable(body):
        raise AssertionError(
            f"{model} ({module}) does not round-trip: sent {body!r}, the SDK model gives {back!r}"
        )
    return obj


def _comparable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, str) and DATETIME.match(value):
        return datetime.fromisoformat(value)
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_midnight_ms(value: str) -> bool:
    return value.isdigit() and int(value) % 86_400_000 == 0
