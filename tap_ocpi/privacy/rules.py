"""The rule compiler: marked paths -> one rule tree per stream and place context.

Each path marks a node of a trie with a strength; the strongest mark on the way down wins:
an explicit hash beats an explicit pass, which beats the default key hash, which beats a
public-place field of a private record (blank, even inside a safe subtree), which beats the
safe lists. Nothing marked is blank. The strengths are ``Level``; what each one makes of
a value is ``KIND_OF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from tap_ocpi.privacy.settings import FieldPath
from tap_ocpi.privacy.shapes import Leaf, Shape

#: What a stream's privacy rules keep of a record (``keep_of``), as the fast path reads it:
#: True keeps the whole value, False drops it (null), ``HASHED`` keeps its pseudonym, a dict
#: says it per field.
Keep = bool | str | dict[str, "Keep"]
HASHED = "hash"


class Kind(Enum):
    """What a rule does with a value."""

    BLANK = "blank"  # null
    PASS = "pass"  # noqa: S105 (scalars pass; an object where a scalar belongs is blank)
    VERBATIM = "verbatim"  # anything passes (only from ".": the user accepts unknown fields)
    HASH = "hash"  # every leaf below becomes a pseudonym
    OBJECT = "object"  # known keys by their own rule, unknown keys by `unknown`


BLANK, PASS, VERBATIM, HASH, OBJECT = Kind


class Level(IntEnum):
    """How strongly a path is marked, weakest first: the strongest mark on the way wins."""

    UNMARKED = 0  # blank
    SAFE = 1  # the built-in safe list, and public-place fields of public places
    PRIVATE_PLACE = 2  # a public-place field of a private place: blank, even if safe above
    DEFAULT_HASH = 3  # a personal key part (tokens.uid): pseudonymised
    USER_PASS = 4  # privacy_pass
    USER_PASS_ALL = 5  # privacy_pass ".": unknown fields pass too
    USER_HASH = 6  # privacy_hash


KIND_OF: dict[Level, Kind] = {
    Level.UNMARKED: BLANK,
    Level.SAFE: PASS,
    Level.PRIVATE_PLACE: BLANK,
    Level.DEFAULT_HASH: HASH,
    Level.USER_PASS: PASS,
    Level.USER_PASS_ALL: VERBATIM,
    Level.USER_HASH: HASH,
}


class _Trie:
    __slots__ = ("children", "mark")

    def __init__(self) -> None:
        self.mark = Level.UNMARKED
        self.children: dict[str, _Trie] = {}

    def add(self, path: FieldPath, mark: Level) -> None:
        node = self
        for part in path:
            node = node.children.setdefault(part, _Trie())
        node.mark = max(node.mark, mark)


@dataclass(frozen=True)
class Rule:
    kind: Kind
    children: tuple[tuple[str, Rule], ...] = ()  # OBJECT: schema order
    unknown: Kind = BLANK  # OBJECT: keys the schema does not list (BLANK/VERBATIM/HASH)
    scalar: Kind = BLANK  # OBJECT: a scalar found where an object was expected
    opaque: bool = False  # PASS: an object value passes whole (the schema allows any)


UNIFORM = {kind: Rule(kind) for kind in (BLANK, VERBATIM, HASH)}


def _compile(shape: Shape, trie: _Trie | None, inherited: Level) -> Rule:
    strength = max(inherited, trie.mark if trie else Level.UNMARKED)
    kind = KIND_OF[strength]
    if isinstance(shape, Leaf):
        return Rule(PASS, opaque=shape.opaque) if kind is PASS else UNIFORM[kind]
    deeper = trie.children if trie else {}
    children = tuple(
        (name, _compile(sub, deeper.get(name), strength)) for name, sub in shape.props.items()
    )
    unknown = BLANK if kind is PASS else kind
    if unknown is not BLANK or not all(_passes_whole(rule) for _, rule in children):
        scalar = unknown
    else:
        scalar = PASS  # every known field passes: so does a scalar in its place (2.1.1 money)
    if scalar is unknown and all(rule == UNIFORM[unknown] for _, rule in children):
        return UNIFORM[unknown]  # nothing below differs: one null / copy / hash
    return Rule(OBJECT, children, unknown, scalar)


def compile_marks(shape: Shape, marks: list[tuple[FieldPath, Level]]) -> Rule:
    """The rule tree of a schema shape under these marked paths."""
    trie = _Trie()
    for path, strength in marks:
        trie.add(path, strength)
    return _root(_compile(shape, trie, Level.UNMARKED))


def _passes_whole(rule: Rule) -> bool:
    if rule.kind is OBJECT:
        return all(_passes_whole(child) for _, child in rule.children)
    return rule.kind in (PASS, VERBATIM)


def _root(rule: Rule) -> Rule:
    """A record stays an object with its keys, even when every field is blank."""
    if rule.kind in (BLANK, PASS):
        return Rule(OBJECT, (), BLANK, BLANK)
    return rule


def uses_hash(rule: Rule) -> bool:
    if rule.kind is OBJECT:
        return HASH in (rule.unknown, rule.scalar) or any(
            uses_hash(child) for _, child in rule.children
        )
    return rule.kind is HASH


def leaf_paths(rule: Rule, kinds: tuple[Kind, ...], prefix: str = "") -> list[str]:
    """The largest subtrees whose rule is one of ``kinds`` (for reports and docs)."""
    if rule.kind in kinds:
        return [prefix or "."]
    paths: list[str] = []
    for name, child in rule.children:
        paths += leaf_paths(child, kinds, f"{prefix}.{name}" if prefix else name)
    return paths


def keep_of(rule: Rule) -> Keep | None:
    """What one rule keeps (``PrivacyPolicy.keeps``); None where the output needs more than
    keep, pseudonymise or null (a passed leaf that could hold an object, say). ``HASHED``
    on an object means every leaf below: the fast path takes it on scalar fields only."""
    if rule.kind is BLANK:
        return False
    if rule.kind is VERBATIM or (rule.kind is PASS and rule.opaque):
        return True
    if rule.kind is PASS:
        return True  # a scalar leaf: fastpath.projected_type accepts scalars only there
    if rule.kind is OBJECT:
        keep: dict[str, Keep] = {}
        for name, child in rule.children:
            sub = keep_of(child)
            if sub is None:
                return None
            keep[name] = sub
        return keep
    return HASHED
