"""Delta Sharing recipients with their tokens and activation codes (docs/EMULATOR.md §7.5).

`RecipientsArea` holds the recipient half of the Delta Sharing area; `shares.SharingState` builds on it with the
shares and their grants. Grants name recipients, so a renamed or deleted recipient tells the share half through
`_grantee_renamed` / `_grantee_deleted`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dbrx_emulator.api import Body, Json
from dbrx_emulator.clock import rfc3339
from dbrx_emulator.errors import invalid, not_owner, resource_does_not_exist, uc_already_exists
from dbrx_emulator.names import check_uc_name, ip_problem, parse_enum
from dbrx_emulator.paging import SortedIndex
from dbrx_emulator.seed import RecipientSeed, Seed
from dbrx_emulator.state.sharing_common import SharingBase, omit_none
from dbrx_emulator.state.uc import Audit

MAX_RECIPIENTS = 5000
MAX_IP_ADDRESSES = 100
AUTHENTICATION_TYPES = frozenset(
    {"TOKEN", "DATABRICKS", "OIDC_FEDERATION", "OAUTH_CLIENT_CREDENTIALS"}
)
RESERVED_PROPERTY_PREFIX = "databricks."  # compared ignoring case (docs/EMULATOR.md §7.5)
_SHARING_ID = re.compile(
    r"^([a-z0-9]+):([a-z0-9-]+):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


@dataclass
class Token:
    """A recipient token."""

    id: str
    code: str  # activation code
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    expiration_time: int
    downloaded: bool = False
    bearer_token: str | None = None

    def active(self, now_ms: int) -> bool:
        """Active while its expiration time is in the future."""
        return self.expiration_time > now_ms


@dataclass
class Recipient:
    """A recipient."""

    name: str
    authentication_type: str
    id: str
    audit: Audit
    comment: str | None = None
    ip_access_list: list[str] | None = None
    properties: dict[str, str] = field(default_factory=dict)
    sharing_code: str | None = None
    data_recipient_global_metastore_id: str | None = None
    expiration_time: int | None = None
    tokens: list[Token] = field(default_factory=list)  # oldest first
    visible_from: int = 0


class RecipientsArea(SharingBase):
    """Recipients keyed by lower-case name, and their tokens by activation code."""

    recipients: SortedIndex[str, Recipient]
    codes: dict[str, tuple[Recipient, Token]]

    def load_seed(self, seed: Seed) -> None:
        """The seeded recipients (before the shares: grants name them)."""
        self.recipients = SortedIndex()
        self.codes = {}
        for spec in seed.recipients:
            self._seed_recipient(spec)

    def require_recipient(self, name: str, now_ms: int | None = None) -> Recipient:
        """The recipient; with `now_ms`, a recipient still hidden by read-after-write lag counts as missing."""
        recipient = self.recipients.get(name.lower())
        if recipient is None or (now_ms is not None and now_ms < recipient.visible_from):
            raise self._not_found("Recipient", name.lower())
        return recipient

    def _ip_list(self, body: Body) -> list[str]:
        ip_access_list = body.obj("ip_access_list")
        addresses = (
            ip_access_list.str_list("allowed_ip_addresses") if ip_access_list else None
        ) or []
        if len(addresses) > MAX_IP_ADDRESSES:
            raise invalid(
                f"The number of IP addresses in the IP access list exceeds the limit of {MAX_IP_ADDRESSES}."
            )
        for address in addresses:
            problem = ip_problem(address)
            if problem:
                raise invalid(problem)
        return [a.strip() for a in addresses]

    def _properties(self, body: Body) -> dict[str, str] | None:
        """`properties_kvpairs.properties`: the SDK's object form or the `[{key, value}]` pair list of the REST
        reference (both reach Databricks from real clients)."""
        kvpairs = body.obj("properties_kvpairs")
        if kvpairs is None:
            return None
        if not isinstance(kvpairs.data.get("properties"), list):
            return dict(kvpairs.str_map("properties") or {})
        out: dict[str, str] = {}
        for pair in kvpairs.objects("properties"):
            out[pair.require_str("key")] = pair.require_str("value")
        return out

    def _check_target(self, target: str, recipient_name: str) -> None:
        if not _SHARING_ID.match(target.lower()):
            raise invalid(
                f"Invalid data_recipient_global_metastore_id '{target}': expected "
                "<cloud>:<region>:<metastore uuid>."
            )
        if target.lower() not in {m.lower() for m in self.rt.workspace.known_metastores}:
            raise invalid(f"Cannot resolve target shard for sharing identifier '{target}'.")
        for other in self.recipients.values():
            used = other.data_recipient_global_metastore_id
            if other.name != recipient_name and used is not None and used.lower() == target.lower():
                raise invalid(
                    f"There is already a Recipient object '{other.name}' with the same sharing identifier "
                    f"'{target}'."
                )

    def create_recipient(self, body: Body, now_ms: int) -> Recipient:
        """`recipients.create`."""
        name = check_uc_name(
            body.require_str("name"), "CreateRecipient", "managedcatalog.RecipientInfo.name"
        )
        if name in self.recipients:
            raise uc_already_exists(self.rt.behaviour.already_exists_status, "Recipient", name)
        if len(self.recipients) >= MAX_RECIPIENTS:
            raise invalid(f"Cannot create more than {MAX_RECIPIENTS} recipients in a metastore.")
        if body.data.get("authentication_type") is None:
            raise invalid("Missing required field: authentication_type")
        auth = parse_enum(
            body.data["authentication_type"],
            AUTHENTICATION_TYPES,
            "authentication_type",
            strict=self._strict(),
        )
        if auth not in ("TOKEN", "DATABRICKS"):
            raise invalid(f"authentication_type {auth} is not supported by the emulator.")
        expiration = body.int_("expiration_time")
        if expiration is not None and expiration <= now_ms:
            raise invalid("expiration_time must be in the future.")
        ip_addresses = self._ip_list(body)
        target = body.str_("data_recipient_global_metastore_id")
        if auth == "DATABRICKS":
            if target is None:
                raise invalid(
                    "data_recipient_global_metastore_id is required for DATABRICKS recipients."
                )
            self._check_target(target, name)
            if ip_addresses:
                raise invalid("IP access lists are only supported for TOKEN recipients.")
        elif target is not None:
            raise invalid(
                "data_recipient_global_metastore_id is only allowed for DATABRICKS recipients."
            )
        recipient = Recipient(
            name=name,
            authentication_type=auth,
            id=self.rt.rng.uuid4(),
            audit=self.audit(body.str_("owner"), now_ms),
            comment=body.str_("comment"),
            ip_access_list=ip_addresses or None,
            properties=self._properties(body) or {},
            sharing_code=body.str_("sharing_code"),
            data_recipient_global_metastore_id=target.lower() if target else None,
            expiration_time=expiration,
            visible_from=self._visible_lag(now_ms),
        )
        self.recipients.put(name, recipient)
        if auth == "TOKEN":
            lifetime_ms = self.rt.workspace.token_lifetime_seconds * 1000
            self._new_token(recipient, now_ms, expiration or now_ms + lifetime_ms)
        return recipient

    def _new_token(
        self, recipient: Recipient, now_ms: int, expires_ms: int, *, downloaded: bool = False
    ) -> Token:
        principal = self.rt.principal
        token = Token(
            id=self.rt.rng.uuid4(),
            code=self.rt.rng.token(16),
            created_at=now_ms,
            created_by=principal,
            updated_at=now_ms,
            updated_by=principal,
            expiration_time=expires_ms,
            downloaded=downloaded,
        )
        recipient.tokens.append(token)
        self.codes[token.code] = (recipient, token)
        return token

    def update_recipient(self, recipient: Recipient, body: Body, now_ms: int) -> Recipient:
        """`recipients.update`: only present fields change."""
        self._check_owner("Recipient", recipient.name, recipient.audit.owner, body)
        new_name = body.str_("new_name")
        if new_name is not None:
            new_name = check_uc_name(
                new_name, "UpdateRecipient", "managedcatalog.UpdateRecipient.new_name"
            )
            if new_name != recipient.name and new_name in self.recipients:
                raise uc_already_exists(
                    self.rt.behaviour.already_exists_status, "Recipient", new_name
                )
        ip_addresses: list[str] | None = None
        if body.has("ip_access_list"):
            ip_addresses = self._ip_list(body)
            if ip_addresses and recipient.authentication_type != "TOKEN":
                raise invalid("IP access lists are only supported for TOKEN recipients.")
        expiration = body.int_("expiration_time")
        if expiration is not None and expiration <= now_ms:
            raise invalid("expiration_time must be in the future.")
        properties = self._properties(body)
        comment, owner = body.str_("comment"), body.str_("owner")
        # Everything is valid: apply.
        if body.has("ip_access_list"):
            recipient.ip_access_list = ip_addresses or None
        if properties is not None:
            recipient.properties = properties
        if expiration is not None:
            recipient.expiration_time = expiration
        if comment is not None:
            recipient.comment = comment
        if owner is not None:
            recipient.audit.owner = owner
        if new_name is not None and new_name != recipient.name:
            self._rename_recipient(recipient, new_name)
        recipient.audit.updated_at, recipient.audit.updated_by = now_ms, self.rt.principal
        return recipient

    def _rename_recipient(self, recipient: Recipient, new_name: str) -> None:
        old = recipient.name
        self.recipients.pop(old)
        recipient.name = new_name
        self.recipients.put(new_name, recipient)
        self._grantee_renamed(old, new_name)

    def delete_recipient(self, recipient: Recipient) -> None:
        """`recipients.delete`: its grants on every share go too."""
        if recipient.audit.owner != self.rt.principal:
            raise not_owner("Recipient", recipient.name)
        self.recipients.pop(recipient.name)
        for token in recipient.tokens:
            self.codes.pop(token.code, None)
        self._grantee_deleted(recipient.name)

    def rotate_token(self, recipient: Recipient, body: Body, now_ms: int) -> Recipient:
        """`recipients.rotate_token` (trap 16)."""
        if recipient.audit.owner != self.rt.principal:
            raise not_owner("Recipient", recipient.name)
        if recipient.authentication_type != "TOKEN":
            raise invalid(
                f"Cannot rotate token for recipient '{recipient.name}' with non-TOKEN authentication type."
            )
        seconds = body.int_("existing_token_expire_in_seconds")
        if seconds is None or seconds < 0:
            raise invalid(
                "existing_token_expire_in_seconds must be given as a non-negative number of seconds."
            )
        active = [t for t in recipient.tokens if t.active(now_ms)]
        if len(active) >= 2:
            raise invalid(f"There are already two activated tokens for recipient {recipient.name}.")
        if active:
            newest = active[-1]
            new_expiry = now_ms + seconds * 1000
            if new_expiry > newest.expiration_time:
                raise invalid("Cannot extend the token expiration time of the existing token.")
            newest.expiration_time = new_expiry
            newest.updated_at, newest.updated_by = now_ms, self.rt.principal
        self._new_token(recipient, now_ms, now_ms + self.rt.workspace.token_lifetime_seconds * 1000)
        recipient.audit.updated_at, recipient.audit.updated_by = now_ms, self.rt.principal
        return recipient

    def retrieve(self, code: str, now_ms: int, base_url: str) -> Json:
        """`activation.retrieve`: the credential, once; marks the token downloaded."""
        _, token = self._activation(code, now_ms)
        token.downloaded = True
        token.bearer_token = self.rt.rng.token(32)
        token.updated_at = now_ms
        return {
            "shareCredentialsVersion": 1,
            "bearerToken": token.bearer_token,
            "endpoint": f"{base_url}/api/2.0/delta-sharing/metastores/{self.rt.workspace.metastore_id}",
            "expirationTime": rfc3339(token.expiration_time),
        }

    def activation_info(self, code: str, now_ms: int) -> Json:
        """`activation.get_info`."""
        recipient, token = self._activation(code, now_ms)
        return {"recipient_name": recipient.name, "expiration_time": token.expiration_time}

    def _activation(self, code: str, now_ms: int) -> tuple[Recipient, Token]:
        found = self.codes.get(code)
        if found is None or found[1].downloaded or not found[1].active(now_ms):
            raise resource_does_not_exist(
                "The activation link is invalid, expired or was already used."
            )
        return found

    def newest_pending_code(self, recipient: Recipient, now_ms: int) -> str | None:
        """Activation code of the newest active token not downloaded yet."""
        for token in reversed(recipient.tokens):
            if token.active(now_ms) and not token.downloaded:
                return token.code
        return None

    def recipient_json(self, recipient: Recipient, base_url: str, now_ms: int) -> Json:
        """RecipientInfo (tokens that have expired are not listed; `sharing_code` is never returned)."""
        body: Json = omit_none(
            {
                "name": recipient.name,
                "authentication_type": recipient.authentication_type,
                "id": recipient.id,
                "comment": recipient.comment,
                "expiration_time": recipient.expiration_time,
                **recipient.audit.stamps(),
            }
        )
        if recipient.ip_access_list:
            body["ip_access_list"] = {"allowed_ip_addresses": list(recipient.ip_access_list)}
        visible = {
            k: v
            for k, v in sorted(recipient.properties.items())
            if not k.lower().startswith(RESERVED_PROPERTY_PREFIX)
        }
        if visible:
            body["properties_kvpairs"] = {"properties": visible}
        if recipient.authentication_type == "DATABRICKS":
            target = recipient.data_recipient_global_metastore_id or ""
            cloud, region, metastore_id = [*target.split(":"), "", "", ""][:3]
            body.update(
                data_recipient_global_metastore_id=target,
                cloud=cloud,
                region=region,
                metastore_id=metastore_id,
                activated=True,
            )
            return body
        tokens = [t for t in recipient.tokens if t.active(now_ms)]
        rendered = []
        for token in tokens:
            item: Json = {
                "id": token.id,
                "created_at": token.created_at,
                "created_by": token.created_by,
                "updated_at": token.updated_at,
                "updated_by": token.updated_by,
                "expiration_time": token.expiration_time,
            }
            if not token.downloaded:
                item["activation_url"] = (
                    f"{base_url}/delta_sharing/retrieve_config.html?{token.code}"
                )
            rendered.append(item)
        newest = recipient.tokens[-1] if recipient.tokens else None
        body["activated"] = bool(newest and newest.downloaded)
        pending = self.newest_pending_code(recipient, now_ms)
        if pending is not None:
            body["activation_url"] = f"{base_url}/delta_sharing/retrieve_config.html?{pending}"
        body["tokens"] = rendered
        return body

    def _seed_recipient(self, spec: RecipientSeed) -> None:
        created = (
            self.rt.seed_time(spec.created) if spec.created is not None else self.rt.seed_origin_ms
        )
        recipient = Recipient(
            name=spec.name,
            authentication_type=spec.authentication_type,
            id=self.rt.rng.uuid4(),
            audit=self.audit(spec.owner, created),
            comment=spec.comment,
            ip_access_list=list(spec.ip_access_list) if spec.ip_access_list else None,
            properties=dict(spec.properties),
            sharing_code=spec.sharing_code,
            data_recipient_global_metastore_id=(
                spec.data_recipient_global_metastore_id.lower()
                if spec.data_recipient_global_metastore_id
                else None
            ),
            expiration_time=self.rt.seed_time(spec.expiration_time)
            if spec.expiration_time is not None
            else None,
        )
        self.recipients.put(recipient.name, recipient)
        if spec.authentication_type != "TOKEN":
            return
        lifetime_ms = self.rt.workspace.token_lifetime_seconds * 1000
        token_specs = spec.tokens if spec.tokens is not None else []
        if spec.tokens is None:
            self._new_token(recipient, created, recipient.expiration_time or created + lifetime_ms)
        for token_spec in token_specs:
            token_created = self.rt.seed_time(token_spec.created)
            expires = (
                self.rt.seed_time(token_spec.expires)
                if token_spec.expires is not None
                else token_created + lifetime_ms
            )
            self._new_token(recipient, token_created, expires, downloaded=token_spec.activated)

    def _grantee_renamed(self, old: str, new: str) -> None:
        """Called after recipient `old` was renamed to `new` (the grants live with the shares)."""

    def _grantee_deleted(self, name: str) -> None:
        """Called after recipient `name` was deleted (the grants live with the shares)."""

    def _dump_recipients(self) -> list[Json]:
        """Recipients with all their tokens and activation codes (test tool)."""
        now = self.rt.now_ms()
        return [
            {
                **self.recipient_json(r, "", now),
                "sharing_code": r.sharing_code,
                "all_tokens": [
                    {
                        "id": t.id,
                        "activation_code": t.code,
                        "expiration_time": t.expiration_time,
                        "downloaded": t.downloaded,
                        "bearer_token": t.bearer_token,
                    }
                    for t in r.tokens
                ],
            }
            for r in self.recipients.values()
        ]
