"""Path globs of grants (SPEC §11.2), compiled to a nondeterministic automaton: matching follows
every state at once and never backtracks."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import FormatError

MAX_WILDCARDS = 32
MAX_DEPTH = 4
MAX_ALTERNATIVES = 64


@dataclass
class _State:
    pred: Callable[[str], bool] | None = None
    next: int = -1
    eps: list[int] = field(default_factory=list)


def _any(c: str) -> bool:
    return True


def _not_slash(c: str) -> bool:
    return c != "/"


class Glob:
    def __init__(self, text: str):
        self.text = text
        if not text or len(text.encode("utf-8")) > 1024 or unicodedata.normalize("NFC", text) != text:
            raise FormatError(f"malformed glob {text!r}: empty, not NFC or over 1024 bytes")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise FormatError(f"malformed glob {text!r}: control character")
        self.states: list[_State] = []
        self.wildcards = 0
        self.alternatives = 0
        self.pos = 0
        ast = self._seq(0)
        if self.pos != len(text):
            raise FormatError(f"malformed glob {text!r}")
        if self.wildcards > MAX_WILDCARDS:
            raise FormatError(f"malformed glob {text!r}: {self.wildcards} wildcards, more than {MAX_WILDCARDS}")
        if self.alternatives > MAX_ALTERNATIVES:
            raise FormatError(f"malformed glob {text!r}: more than {MAX_ALTERNATIVES} alternatives")
        self.accept = self._new()
        self.start = self._build(ast, self.accept)

    # AST: list of items; item = ("lit", c) | ("?",) | ("*",) | ("**/",) | ("**",) | ("alt", [seq...])
    def _seq(self, depth: int, at_component_start: bool = True) -> list[tuple]:
        # An alternative starts a component only when its braces do (SPEC §11.2).
        t = self.text
        items: list[tuple] = []
        while self.pos < len(t):
            c = t[self.pos]
            if depth > 0 and c in ",}":
                return items
            if c == "*" and t.startswith("**", self.pos):
                after = t[self.pos + 2 : self.pos + 3]
                ends = after == "" or (depth > 0 and after in ",}")
                if not at_component_start or not (after == "/" or ends):
                    raise FormatError(f"malformed glob {t!r}: '**' must be a whole path component")
                self.wildcards += 1
                if after == "/":
                    items.append(("**/",))
                    self.pos += 3
                    at_component_start = True
                else:
                    items.append(("**",))
                    self.pos += 2
                    at_component_start = False
                continue
            if c in "*?":
                self.wildcards += 1
                items.append((c,))
            elif c == "{":
                if depth + 1 > MAX_DEPTH:
                    raise FormatError(f"malformed glob {t!r}: braces nested more than {MAX_DEPTH} deep")
                self.pos += 1
                alts = []
                braces_start_component = at_component_start
                while True:
                    alts.append(self._seq(depth + 1, braces_start_component))
                    self.alternatives += 1
                    if self.pos >= len(t):
                        raise FormatError(f"malformed glob {t!r}: unclosed brace")
                    if t[self.pos] == "}":
                        break
                    self.pos += 1  # ','
                items.append(("alt", alts))
                # a brace that ends a component leaves the next item mid-component unless it ended in '/'
                at_component_start = False
                self.pos += 1
                continue
            elif c == "\\":
                if self.pos + 1 >= len(t):
                    raise FormatError(f"malformed glob {t!r}: dangling escape")
                self.pos += 1
                items.append(("lit", t[self.pos]))
            elif c in "[]":
                raise FormatError(f"malformed glob {t!r}: '[' and ']' are reserved")
            else:
                items.append(("lit", c))
            at_component_start = c == "/"
            self.pos += 1
        return items

    def _new(self, **kw: object) -> int:
        self.states.append(_State(**kw))  # type: ignore[arg-type]
        return len(self.states) - 1

    def _build(self, seq: list[tuple], nxt: int) -> int:
        for item in reversed(seq):
            kind = item[0]
            if kind == "lit":
                ch = item[1]
                nxt = self._new(pred=lambda c, ch=ch: c == ch, next=nxt)
            elif kind == "?":
                nxt = self._new(pred=_not_slash, next=nxt)
            elif kind == "*":
                loop = self._new()
                step = self._new(pred=_not_slash, next=loop)
                self.states[loop].eps = [nxt, step]
                nxt = loop
            elif kind == "**":
                loop = self._new()
                step = self._new(pred=_any, next=loop)
                self.states[loop].eps = [nxt, step]
                nxt = step
            elif kind == "**/":
                loop = self._new()
                slash = self._new(pred=lambda c: c == "/", next=loop)
                more = self._new()
                char = self._new(pred=_not_slash, next=more)
                self.states[more].eps = [char, slash]
                self.states[loop].eps = [nxt, char]
                nxt = loop
            else:
                fork = self._new()
                self.states[fork].eps = [self._build(alt, nxt) for alt in item[1]]
                nxt = fork
        return nxt

    def _closure(self, states: set[int]) -> set[int]:
        out = set()
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in out:
                continue
            out.add(s)
            stack.extend(self.states[s].eps)
        return out

    def matches(self, name: str) -> bool:
        cur = self._closure({self.start})
        for c in name:
            nxt = {self.states[s].next for s in cur if self.states[s].pred is not None and self.states[s].pred(c)}
            if not nxt:
                return False
            cur = self._closure(nxt)
        return self.accept in cur
