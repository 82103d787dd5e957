"""A small SCPI engine for the bench's emulated instruments: parser, dispatcher, error queue (the TCP
server is rig.bench.scpi_server).

Headers are matched against patterns written as in the vendors' guides
("[SOURce:]RESistance[:LEVel]"): short or long form of each node, either case, optional nodes.
Compound messages follow IEEE 488.2: ';' separates commands, a leading ':' returns to the root,
otherwise a command continues the previous header's path. Deviation (lenient on purpose): when
the continued path matches nothing, the command is tried from the root too.
An instrument with `compound_messages = False` stands for one that takes one command per message
(instruments.md promises no more): a line with several commands queues -113 Undefined header for the
whole line and executes none of it, so a query in it gets no reply.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MESSAGES = {
    0: "No error",
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -211: "Trigger ignored",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -241: "Hardware missing",
    -300: "Device-specific error",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
}
ERROR_QUEUE_MAX = 30
MAX_LINE_BYTES = 4096
QUEUE_OVERFLOW = -350

# *ESR bits (IEEE 488.2): which class of error sets which bit.
ESR_OPC = 1
_ESR_BY_CLASS = {-100: 32, -200: 16, -300: 8, -400: 4}
_ERROR_CLASS_WIDTH = 100


class ScpiError(Exception):
    """Raised by a handler: queued on the instrument's error queue, the command does nothing."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code},{MESSAGES.get(code, 'Error')}{'; ' + detail if detail else ''}")


class ErrorQueue:
    """FIFO of SCPI errors; when full, the newest entry becomes -350 Queue overflow."""

    def __init__(self) -> None:
        self._items: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self.esr = 0

    def push(self, code: int, detail: str = "") -> None:
        with self._lock:
            self.esr |= _ESR_BY_CLASS.get(-((-code) // _ERROR_CLASS_WIDTH) * _ERROR_CLASS_WIDTH, 0)
            if len(self._items) >= ERROR_QUEUE_MAX:
                self._items[-1] = (QUEUE_OVERFLOW, "")
                return
            self._items.append((code, detail))

    def pop(self) -> str:
        with self._lock:
            code, detail = self._items.popleft() if self._items else (0, "")
        text = MESSAGES.get(code, "Error") + (f"; {detail}" if detail else "")
        return f'{code:+d},"{text}"'

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.esr = 0

    def read_esr(self) -> int:
        with self._lock:
            value, self.esr = self.esr, 0
            return value

    def __len__(self) -> int:
        return len(self._items)


# ---------------------------------------------------------------------- parameters
def parse_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(-104, f"not a number: {text[:20]}") from None
    if not math.isfinite(value):
        raise ScpiError(-104, f"not a finite number: {text[:20]}")
    return value


def parse_int(text: str) -> int:
    value = parse_number(text)
    if value != int(value):
        raise ScpiError(-104, f"not an integer: {text[:20]}")
    return int(value)


def parse_bool(text: str) -> bool:
    return parse_choice(text, ("ON", "OFF", "1", "0")) in ("ON", "1")


def _keyword_forms(keyword: str) -> tuple[str, str]:
    """"CURRent1" -> ("CURR1", "CURRENT1"): upper-case prefix plus any numeric suffix."""
    digits = re.search(r"[0-9]*$", keyword).group(0)
    stem = keyword[: len(keyword) - len(digits)]
    short = re.match(r"[A-Z*_]*", stem).group(0) or stem.upper()
    return short + digits, keyword.upper()


def parse_choice(text: str, choices: tuple[str, ...]) -> str:
    """Match a keyword parameter against choices written like "POSitive"; return the long form."""
    token = text.strip().upper()
    for choice in choices:
        if token in _keyword_forms(choice):
            return choice.upper()
    raise ScpiError(-224, f"expected one of {', '.join(choices)}")


def parse_channels(text: str) -> tuple[int, ...]:
    """"(@1,2)" or "(@1:3)" -> channel numbers."""
    match = re.fullmatch(r"\(@([0-9,:\s]+)\)", text.strip())
    if match is None:
        raise ScpiError(-102, f"bad channel list {text[:20]}")
    channels: list[int] = []
    for part in match.group(1).split(","):
        bounds = [p.strip() for p in part.split(":")]
        if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
            raise ScpiError(-102, f"bad channel list {text[:20]}")
        first, last = int(bounds[0]), int(bounds[-1])
        channels.extend(range(first, last + 1))
    return tuple(channels)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on sep outside quotes and parentheses; -102 on unbalanced ones."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ScpiError(-102, "unbalanced parenthesis")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise ScpiError(-102, "unbalanced quote or parenthesis")
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Call:
    """One parsed command: its arguments and, if given, its channel list."""

    header: str
    args: tuple[str, ...]
    channels: tuple[int, ...] | None

    def arg(self, index: int) -> str:
        if index >= len(self.args):
            raise ScpiError(-109, self.header)
        return self.args[index]

    def no_args(self) -> None:
        if self.args:
            raise ScpiError(-108, self.header)


Handler = Callable[[Call], str | None]


# ---------------------------------------------------------------------- headers
class Pattern:
    """A header pattern: nodes with short and long forms, some optional."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.query = text.endswith("?")
        body = text.rstrip("?")
        self.nodes: list[tuple[tuple[str, str], bool]] = []
        for optional, required in re.findall(r"\[:?([^\]]+?):?\]|:?([^:\[\]]+)", body):
            keyword = optional or required
            self.nodes.append((_keyword_forms(keyword), bool(optional)))

    def matches(self, tokens: list[str]) -> bool:
        return self._match(0, tokens)

    def _match(self, n: int, tokens: list[str]) -> bool:
        if n == len(self.nodes):
            return not tokens
        forms, optional = self.nodes[n]
        if tokens and tokens[0].upper() in forms and self._match(n + 1, tokens[1:]):
            return True
        return optional and self._match(n + 1, tokens)


class CommandTable:
    def __init__(self) -> None:
        self._entries: list[tuple[Pattern, Handler]] = []

    def add(self, pattern: str, handler: Handler) -> None:
        self._entries.append((Pattern(pattern), handler))

    def find(self, tokens: list[str], query: bool) -> Handler | None:
        for pattern, handler in self._entries:
            if pattern.query == query and pattern.matches(tokens):
                return handler
        return None


# ---------------------------------------------------------------------- instrument
class ScpiInstrument:
    """Dispatcher plus the IEEE 488.2 common commands; an emulated instrument subclasses it,
    registers its commands with `add`, and overrides reset(), trigger() and wait_complete()."""

    compound_messages = True

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self.errors = ErrorQueue()
        self._table = CommandTable()
        self.add("*IDN?", lambda call: self.idn)
        self.add("*RST", lambda call: self.reset())
        self.add("*CLS", lambda call: self.errors.clear())
        self.add("*OPC", lambda call: self._set_opc())
        self.add("*OPC?", lambda call: self.wait_complete() or "1")
        self.add("*WAI", lambda call: self.wait_complete())
        self.add("*ESR?", lambda call: str(self.errors.read_esr()))
        self.add("*TRG", lambda call: self.trigger())
        self.add("SYSTem:ERRor[:NEXT]?", lambda call: self.errors.pop())

    def add(self, pattern: str, handler: Handler) -> None:
        self._table.add(pattern, handler)

    def reset(self) -> None:
        """*RST: override to restore the instrument's defaults."""

    def trigger(self) -> None:
        """*TRG: override in instruments that have a bus trigger."""
        raise ScpiError(-113, "*TRG")

    def wait_complete(self) -> None:
        """*OPC? / *WAI: override to block until pending operations have settled."""

    def _set_opc(self) -> None:
        self.wait_complete()
        self.errors.esr |= ESR_OPC

    def execute(self, message: str) -> str | None:
        """Run one program message; return the joined query replies, or None if there are none."""
        try:
            commands = split_top_level(message, ";")
        except ScpiError as exc:
            self.errors.push(exc.code, exc.detail)
            return None
        if not self.compound_messages and sum(1 for c in commands if c.strip()) > 1:
            self.errors.push(-113, "one command per message")
            return None
        replies: list[str] = []
        path: list[str] = []
        for command in commands:
            command = command.strip()
            if not command:
                continue
            try:
                reply, path = self._execute_one(command, path)
            except ScpiError as exc:
                self.errors.push(exc.code, exc.detail)
                continue
            except Exception as exc:  # a handler bug must not take the connection down
                self.errors.push(-300, type(exc).__name__)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _execute_one(self, command: str, path: list[str]) -> tuple[str | None, list[str]]:
        header, _, rest = command.partition(" ")
        query = header.endswith("?")
        bare = header.rstrip("?")
        if not bare or not re.fullmatch(r":?[A-Za-z0-9_*]+(:[A-Za-z0-9_]+)*", bare):
            raise ScpiError(-113 if bare else -102, header[:40])
        tokens = bare.lstrip(":").split(":")
        candidates = [tokens]
        if not bare.startswith((":", "*")) and path:
            candidates.insert(0, path + tokens)
        for full in candidates:
            handler = self._table.find(full, query)
            if handler is not None:
                break
        else:
            raise ScpiError(-113, header[:40])
        args = [a.strip() for a in split_top_level(rest, ",")] if rest.strip() else []
        channels = None
        if args and args[-1].startswith("("):
            channels = parse_channels(args.pop())
        if any(not a for a in args):
            raise ScpiError(-102, "empty parameter")
        reply = handler(Call(header=header, args=tuple(args), channels=channels))
        next_path = path if bare.startswith("*") else full[:-1]
        return reply, next_path
