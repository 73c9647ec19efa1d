"""The policy: compiled rules for every stream, the filters, the reports, the schema."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy.fields import DEFAULT_HASH_FIELDS, PUBLIC_PLACE_FIELDS, SAFE_FIELDS
from tap_ocpi.privacy.filters import SCALARS, Transform, build, no_salt, pseudonymiser
from tap_ocpi.privacy.rules import (
    BLANK,
    HASH,
    OBJECT,
    PASS,
    UNIFORM,
    VERBATIM,
    Keep,
    Level,
    Rule,
    compile_marks,
    keep_of,
    leaf_paths,
    uses_hash,
)
from tap_ocpi.privacy.settings import quote, read_salt, read_setting, split_path
from tap_ocpi.privacy.shapes import deref, shape_of
from tap_ocpi.privacy.unchanged import Unchanged, unchanged_check
from tap_ocpi.schemas import PRIMARY_KEYS

LOGGER = logging.getLogger("tap_ocpi.privacy")

Record = dict[str, Any]
#: ``(record, private) -> record``: ``private`` is the place context (see ``is_private``).
RecordFilter = Callable[[Record, bool], Record]


@dataclass(frozen=True)
class _StreamRules:
    public: Rule
    private: Rule

    @property
    def rules(self) -> tuple[Rule, ...]:
        return (self.public,) if self.public == self.private else (self.public, self.private)


class PrivacyPolicy:
    """Compiled privacy rules for every stream. Build it with ``from_config``."""

    def __init__(
        self,
        rules: Mapping[str, _StreamRules],
        salt: str | None,
        primary_keys: Mapping[str, Sequence[str]],
    ) -> None:
        self._rules = dict(rules)
        self._salt = salt
        self._keys = primary_keys
        self._filters: dict[str, RecordFilter] = {}
        self._pseudonym: Transform | None = None

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        schemas: Mapping[str, Mapping[str, Any]],
        selected_streams: Iterable[str] | None = None,
        *,
        safe: Mapping[str, Mapping[str, str]] = SAFE_FIELDS,
        public: Mapping[str, Mapping[str, str]] = PUBLIC_PLACE_FIELDS,
        default_hash: Mapping[str, Mapping[str, str]] = DEFAULT_HASH_FIELDS,
        primary_keys: Mapping[str, Sequence[str]] = PRIMARY_KEYS,
    ) -> PrivacyPolicy:
        """Validate ``privacy_pass``, ``privacy_hash`` and ``privacy_salt``; compile the rules.

        Raises ``OCPIError`` (one line, no values) for a bad setting. With
        ``selected_streams`` it also checks that a salt is set when any of those streams
        pseudonymises a field, so the tap stops before extracting; without it that check
        waits for ``filter_for``. ``safe``, ``public`` and ``default_hash`` replace the
        built-in tables (tests, other schemas); ``primary_keys`` names the fields a record
        that cannot be filtered keeps (see ``filter_for``).
        """
        shapes = {name: shape_of(schema, schema) for name, schema in schemas.items()}
        user_pass = read_setting(config, "privacy_pass", shapes)
        user_hash = read_setting(config, "privacy_hash", shapes)
        salt = read_salt(config)
        rules = {}
        for stream, shape in shapes.items():
            marks = [(split_path(path), Level.SAFE) for path in safe.get(stream, {})]
            marks += [
                (split_path(path), Level.DEFAULT_HASH) for path in default_hash.get(stream, {})
            ]
            marks += [
                (p, Level.USER_PASS if p else Level.USER_PASS_ALL)
                for p in user_pass.get(stream, [])
            ]
            marks += [(parts, Level.USER_HASH) for parts in user_hash.get(stream, [])]
            places = [split_path(path) for path in public.get(stream, {})]
            rules[stream] = _StreamRules(
                public=compile_marks(shape, marks + [(p, Level.SAFE) for p in places]),
                private=compile_marks(shape, marks + [(p, Level.PRIVATE_PLACE) for p in places]),
            )
        policy = cls(rules, salt, primary_keys)
        if selected_streams is not None:
            policy.check_salt(selected_streams)
        return policy

    # -- checks ---------------------------------------------------------------------------------

    def needs_salt(self, streams: Iterable[str]) -> bool:
        """Whether any of these streams pseudonymises a field (so needs ``privacy_salt``)."""
        return bool(self._hashing(streams))

    def check_salt(self, streams: Iterable[str]) -> None:
        """Raise ``OCPIError`` when these streams need a salt and none is set."""
        hashing = self._hashing(streams)
        if hashing and self._salt is None:
            stream, paths = hashing[0]
            raise OCPIError(
                f"privacy_salt is not set, but {stream} pseudonymises {', '.join(paths)}; set "
                f"privacy_salt to a long random secret (e.g. openssl rand -hex 32) and keep it"
            )

    def _hashing(self, streams: Iterable[str]) -> list[tuple[str, list[str]]]:
        found = []
        for stream in streams:
            rules = self._rules.get(stream)
            if rules and any(uses_hash(rule) for rule in rules.rules):
                found.append((stream, leaf_paths(rules.public, (HASH,))))
        return found

    # -- filtering ------------------------------------------------------------------------------

    def filter_for(self, stream: str) -> RecordFilter:
        """The compiled ``(record, private) -> record`` function of a stream.

        The result is a new dict, or the record itself when ``.`` passes everything. A record
        the rules cannot process (e.g. nested too deeply) is still emitted, every field null
        except the key, with a warning naming the stream and key only.
        """
        cached = self._filters.get(stream)
        if cached is None:
            cached = self._filters[stream] = self._make_filter(stream)
        return cached

    def keeps(self, stream: str) -> tuple[Keep, Keep] | None:
        """What the filter keeps of public and of private places' records, when that alone
        decides its output: fields kept whole, pseudonymised whole (``pseudonym``) or
        nulled (the fast path decodes such records straight into their output). None
        otherwise."""
        rules = self._rules.get(stream)
        if rules is None:
            return None
        public, private = keep_of(rules.public), keep_of(rules.private)
        if public is None or private is None:
            return None
        return public, private

    def unchanged(self, stream: str) -> tuple[Unchanged | None, Unchanged | None]:
        """The checks (public place, private place) of records the stream's filter returns
        unchanged but for fields blanked whole (see unchanged.py); None where there is none.
        Built after ``filter_for`` would be: a stream that needs a salt it lacks fails there."""
        rules = self._rules.get(stream)
        if rules is None:
            raise OCPIError(f"privacy: no schema for stream {quote(stream)}")
        self.check_salt([stream])
        public = unchanged_check(rules.public)
        private = public if rules.public == rules.private else unchanged_check(rules.private)
        return public, private

    def pseudonym(self) -> Transform:
        """The one pseudonym function of the run (filters and fast path share its cache);
        without a salt it raises, as a filter that needs one would."""
        if self._pseudonym is None:
            self._pseudonym = pseudonymiser(self._salt.encode()) if self._salt else no_salt
        return self._pseudonym

    def _make_filter(self, stream: str) -> RecordFilter:
        rules = self._rules.get(stream)
        if rules is None:
            raise OCPIError(f"privacy: no schema for stream {quote(stream)}")
        self.check_salt([stream])
        pseudonym = self.pseudonym()
        public = build(rules.public, pseudonym)
        private = public if rules.public == rules.private else build(rules.private, pseudonym)
        rescue = self._rescue(stream, rules.private, pseudonym)

        def apply(record: Record, is_private_place: bool) -> Record:
            try:
                return private(record) if is_private_place else public(record)
            except Exception:  # the rules handle every JSON shape; this is for the unforeseen
                return rescue(record)

        return apply

    def _rescue(self, stream: str, rule: Rule, pseudonym: Transform) -> Callable[[Record], Record]:
        """Every field null but the key (by its own rule), with a warning without values."""
        by_name = dict(rule.children)
        other = UNIFORM[rule.unknown] if rule.kind is OBJECT else rule
        key_rules = [
            (name, build(by_name.get(name, other), pseudonym))
            for name in self._keys.get(stream, ())
        ]

        def rescue(record: Record) -> Record:
            if not isinstance(record, Mapping):
                raise OCPIError(f"privacy: a {stream} record is not a JSON object")
            out = dict.fromkeys(record)
            for name, transform in key_rules:
                if name in record and record[name].__class__ in SCALARS:
                    out[name] = transform(record[name])
            key = ", ".join(f"{name}={out.get(name)}" for name, _ in key_rules)
            LOGGER.warning(
                "privacy: a %s record could not be filtered field by field; emitted with "
                "every non-key field null (key: %s)",
                stream,
                key or "unknown",
            )
            return out

        return rescue

    # -- reports ----------------------------------------------------------------------------------

    def describe(self, stream: str) -> str:
        """One line for the log: what this stream lets through (field paths, no values)."""
        rules = self._rules[stream]
        passed = leaf_paths(rules.public, (PASS, VERBATIM))
        hashed = leaf_paths(rules.public, (HASH,))
        only_public = sorted(set(passed) - set(leaf_paths(rules.private, (PASS, VERBATIM))))
        text = f"privacy {stream}: {len(passed)} field(s) passed"
        if only_public:
            text += f" ({len(only_public)} only for public places)"
        if hashed:
            text += f", pseudonymised: {', '.join(hashed)}"
        return text + "; everything else, unknown fields included, is null"

    def field_paths(self, stream: str) -> dict[str, list[str]]:
        """What the stream passes, blanks and pseudonymises, as field paths (no values)."""
        rules = self._rules[stream]
        passed = leaf_paths(rules.public, (PASS, VERBATIM))
        private = set(leaf_paths(rules.private, (PASS, VERBATIM)))
        return {
            "passed": passed,
            "passed_only_for_public_places": [p for p in passed if p not in private],
            "pseudonymised": leaf_paths(rules.public, (HASH,)),
            "blanked": leaf_paths(rules.public, (BLANK,)),
        }

    def schema_for(self, stream: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema`` adjusted to what the filter emits: pseudonymised leaves become strings."""
        rules = self._rules[stream]
        return _schema_for(schema, [rules.public, rules.private], schema)


_CONSTRAINTS = (
    "format",
    "enum",
    "const",
    "pattern",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
)


def _schema_for(schema: Any, rules: list[Rule], root: Mapping[str, Any]) -> Any:
    if not isinstance(schema, Mapping):
        return schema
    out = dict(deref(schema, root))
    if any(rule.kind is HASH for rule in rules):
        return _as_pseudonym(out, root)
    objects = [rule for rule in rules if rule.kind is OBJECT]
    if isinstance(out.get("items"), Mapping):  # arrays are transparent to rules
        out["items"] = _schema_for(out["items"], rules, root)
    elif isinstance(out.get("properties"), Mapping) and objects:
        out["properties"] = {
            name: _schema_for(
                sub,
                [dict(rule.children).get(name, UNIFORM[rule.unknown]) for rule in objects],
                root,
            )
            for name, sub in out["properties"].items()
        }
    return out


def _as_pseudonym(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k not in _CONSTRAINTS}
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {
            name: _as_pseudonym(deref(sub, root), root) for name, sub in out["properties"].items()
        }
        return out
    if isinstance(out.get("items"), Mapping):
        out["items"] = _as_pseudonym(deref(out["items"], root), root)
        return out
    types = out.get("type")
    kinds = [types] if isinstance(types, str) else list(types or ["string", "null"])
    out["type"] = ["string", "null"] if "null" in kinds else "string"
    return out
