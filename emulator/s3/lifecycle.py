"""Bucket lifecycle configuration: expiration rules by key prefix, as S3 applies them.

The slice emulated is what keeps an audit trail bounded: rules with a prefix filter (or none) and an
`Expiration` in `Days`. S3 expires an object at the first midnight UTC at least that many days after
it was written; the emulator's housekeeping thread deletes it then (S3 too deletes asynchronously, a
little after). Anything else a rule can say (tags, sizes, transitions, dates) is refused with a
message saying so, rather than accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from emulator.protocol.errors import AwsError

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_RULES = 1000
MAX_ID_LENGTH = 255
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    id: str
    prefix: str
    enabled: bool
    days: int

    def to_dict(self) -> dict:
        return {"id": self.id, "prefix": self.prefix, "enabled": self.enabled, "days": self.days}

    @classmethod
    def from_dict(cls, raw: dict) -> Rule:
        return cls(raw["id"], raw["prefix"], raw["enabled"], raw["days"])

    def expires_at(self, written: datetime) -> datetime:
        """The first midnight UTC at least `days` after `written` (S3's rounding)."""
        due = written.astimezone(UTC) + self.days * _DAY
        midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight if midnight == due else midnight + _DAY


def _malformed(why: str) -> AwsError:
    return AwsError(
        "MalformedXML",
        f"The XML you provided was not well-formed or did not validate against our published schema: {why}",
    )


def _local(element: ElementTree.Element) -> str:
    return element.tag.rpartition("}")[2]


def _children(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {_local(child): child for child in element}


def _rule(element: ElementTree.Element, index: int) -> Rule:
    parts = _children(element)
    unsupported = set(parts) - {"ID", "Filter", "Prefix", "Status", "Expiration"}
    if unsupported:
        raise AwsError(
            "InvalidArgument", f"Rule {index}: {sorted(unsupported)} are not emulated; only Expiration Days"
        )
    rule_id = (parts["ID"].text or "") if "ID" in parts else f"rule-{index}"
    if len(rule_id) > MAX_ID_LENGTH:
        raise AwsError("InvalidArgument", f"ID length should not exceed allowed limit of {MAX_ID_LENGTH}")
    status = (parts["Status"].text or "") if "Status" in parts else ""
    if status not in ("Enabled", "Disabled"):
        raise _malformed(f"rule {rule_id!r} Status must be Enabled or Disabled, got {status[:40]!r}")
    if "Filter" in parts and "Prefix" in parts:
        raise _malformed(f"rule {rule_id!r} has both Filter and Prefix")
    if "Filter" in parts:
        filters = _children(parts["Filter"])
        if set(filters) - {"Prefix"}:
            raise AwsError(
                "InvalidArgument",
                f"Rule {rule_id!r}: filters {sorted(filters)} are not emulated; only Prefix",
            )
        prefix = (filters["Prefix"].text or "") if "Prefix" in filters else ""
    elif "Prefix" in parts:
        prefix = parts["Prefix"].text or ""
    else:
        raise _malformed(f"rule {rule_id!r} has neither Filter nor Prefix")
    expiration = _children(parts["Expiration"]) if "Expiration" in parts else {}
    if set(expiration) != {"Days"}:
        raise AwsError(
            "InvalidArgument",
            f"Rule {rule_id!r}: only an Expiration in Days is emulated, got {sorted(expiration)}",
        )
    text = (expiration["Days"].text or "").strip()
    if not text.isdigit() or int(text) < 1:
        raise AwsError("InvalidArgument", "'Days' for Expiration action must be a positive integer")
    return Rule(rule_id, prefix, status == "Enabled", int(text))


def parse_configuration(body: bytes) -> list[Rule]:
    """PutBucketLifecycleConfiguration's body -> its rules (no DTDs, no entities)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise AwsError("MalformedXML", "The XML you provided may not declare a DOCTYPE or entities.")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise _malformed(str(error)) from None
    if _local(root) != "LifecycleConfiguration":
        raise _malformed(f"root element is {_local(root)[:80]!r}, not LifecycleConfiguration")
    elements = [child for child in root if _local(child) == "Rule"]
    if not elements:
        raise _malformed("a lifecycle configuration needs at least one Rule")
    if len(elements) > MAX_RULES:
        raise AwsError("InvalidRequest", f"A lifecycle configuration holds at most {MAX_RULES} rules")
    rules = [_rule(element, index) for index, element in enumerate(elements, 1)]
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise AwsError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")
    return rules


def render_configuration(rules: list[Rule]) -> str:
    body = "".join(
        f"<Rule><ID>{escape(rule.id)}</ID><Filter><Prefix>{escape(rule.prefix)}</Prefix></Filter>"
        f"<Status>{'Enabled' if rule.enabled else 'Disabled'}</Status>"
        f"<Expiration><Days>{rule.days}</Days></Expiration></Rule>"
        for rule in rules
    )
    return f'<LifecycleConfiguration xmlns="{XMLNS}">{body}</LifecycleConfiguration>'
