"""Render a tokenizer folder's chat template the way ``transformers``' ``apply_chat_template`` does,
without importing ``transformers`` (whose import alone takes seconds: it loads ``torch``).

The template is read where ``transformers`` reads it (``chat_template.jinja``, then
``chat_template.json``, then ``tokenizer_config.json``) and rendered in the same sandboxed Jinja
environment: ``trim_blocks`` and ``lstrip_blocks``, the loop controls, a ``tojson`` that does not
escape HTML, ``raise_exception``, ``strftime_now``, a guarded ``namespace`` and the
``{% generation %}`` block; the tokenizer's special tokens (``bos_token``, ``eos_token``...) are
template variables. The tests render every bundled template both ways and compare the text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mosaicit.errors import MosaicitError
from mosaicit.extras import require

#: How long one rendering of a chat template may take, in seconds: real templates take well
#: under a millisecond; a template that loops 10^5 x 10^5 times is stopped instead of run.
RENDER_SECONDS = 10.0
#: Blocks entered and calls made between two looks at the clock.
TICKS_PER_LOOK = 16
#: Each thread's deadline for the rendering under way (a monotonic time).
_deadline = threading.local()


def _start_clock() -> None:
    """Start this thread's rendering clock (module functions: a compiled template that goes to
    another process refers to them by name, and a thread-local cannot be pickled)."""
    _deadline.at = time.monotonic() + RENDER_SECONDS


def _out_of_time() -> bool:
    """True once this thread's rendering has taken longer than :data:`RENDER_SECONDS`."""
    return time.monotonic() > _deadline.at


#: The special-token attributes a template sees as variables (``transformers``' list).
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it (a string or an AddedToken dict)."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; anything else is one clear error."""
    unreadable = f"{path}: not a readable tokenizer config"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise MosaicitError(f"{unreadable}: {' '.join(str(exc).split())}") from None
    if not isinstance(value, dict):
        raise MosaicitError(f"{unreadable}: a JSON {type(value).__name__}, not an object")
    return value


def read_chat_config(folder: Path) -> tuple[str | None, dict[str, Any]]:
    """The chat template of a tokenizer folder (None if it has none) and its special tokens."""
    config: dict[str, Any] = {}
    path = folder / "tokenizer_config.json"
    if path.is_file():
        config = _json_object(path)
    template: Any = config.get("chat_template")
    if (folder / "chat_template.json").is_file():
        template = _json_object(folder / "chat_template.json").get("chat_template")
    if (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    if isinstance(template, list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    tokens: dict[str, Any] = {}
    for name in SPECIAL_TOKENS:
        text = _token_text(config.get(name))
        if text is not None:
            tokens[name] = text
    extra = [t for t in map(_token_text, config.get("additional_special_tokens") or []) if t is not None]
    if extra:
        tokens["additional_special_tokens"] = extra
    return (template if isinstance(template, str) and template else None), tokens


def compile_template(text: str, source: str = "the chat template") -> Callable[..., str]:
    """The ``render(**variables)`` of a chat template, in ``transformers``' Jinja environment,
    with a time limit (:data:`RENDER_SECONDS`); a template that does not compile is one error
    naming its ``source`` and line."""
    jinja2 = require("jinja2")
    from jinja2.compiler import CodeGenerator
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace as JinjaNamespace

    class Timed(CodeGenerator):  # type: ignore[misc]
        """Compiles every block (a loop's body, an if's branch, a macro) to start with a check
        of the clock, so that no loop outlives the rendering's time limit."""

        def blockvisit(self, nodes: Any, frame: Any) -> None:
            self.writeline("environment.tick()")
            super().blockvisit(nodes, frame)

    class Environment(ImmutableSandboxedEnvironment):  # type: ignore[misc]
        code_generator_class = Timed
        ticks = 0

        def tick(self) -> None:
            self.ticks += 1
            if not self.ticks % TICKS_PER_LOOK and _out_of_time():
                raise jinja2.exceptions.TemplateRuntimeError(
                    f"stopped after {RENDER_SECONDS:g} s (a loop that does not end?)"
                )

        def call(self, *args: Any, **kwargs: Any) -> Any:
            self.tick()
            return super().call(*args, **kwargs)

    class Generation(Extension):  # type: ignore[misc]
        """``{% generation %}...{% endgeneration %}``: marks the model's text; rendered as it is."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Callable[[], str]) -> str:
            return caller()

    class Namespace(JinjaNamespace):  # type: ignore[misc]
        """A namespace that refuses underscore names (no way into Python's internals)."""

        def __init__(*args: Any, **kwargs: Any) -> None:
            self, attrs = args[0], dict(*args[1:], **kwargs)
            for name in attrs:
                Namespace.check(name)
            JinjaNamespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            Namespace.check(name)
            JinjaNamespace.__setitem__(self, name, value)

        @staticmethod
        def check(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"a namespace cannot hold {name!r}")

    class Dict:
        """``dict(...)`` and ``dict.fromkeys(...)`` in a template, nothing more."""

        def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict.fromkeys(*args, **kwargs)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
               sort_keys: bool = False) -> str:  # fmt: skip
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    env = Environment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(
        raise_exception=raise_exception, strftime_now=strftime_now, dict=Dict(), namespace=Namespace
    )
    try:
        render = env.from_string(text).render
    except jinja2.exceptions.TemplateSyntaxError as exc:
        where = f"line {exc.lineno}: {exc.message}"
        raise MosaicitError(f"{source}: not a valid chat template: {where}") from None
    except (RecursionError, MemoryError):
        raise MosaicitError(f"{source}: not a valid chat template: nested too deeply") from None

    def timed(**variables: Any) -> str:
        _start_clock()
        return render(**variables)  # type: ignore[no-any-return]

    return timed


class JinjaChat:
    """A chat template with the special tokens it sees: ``render(messages)`` is the text
    ``apply_chat_template(messages, tokenize=False)`` gives."""

    def __init__(self, template: str, tokens: dict[str, Any], source: str = "the chat template") -> None:
        self.template = template
        self.tokens = tokens
        self.source = source
        self._render = compile_template(template, source)

    def __reduce__(self) -> tuple[type[JinjaChat], tuple[str, dict[str, Any], str]]:
        """Compiled again where it is unpickled (a Ray task): a Jinja template cannot be pickled."""
        return (type(self), (self.template, self.tokens, self.source))

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The rendered text of ``messages`` (no generation prompt, no tools)."""
        return self._render(
            messages=[dict(m) for m in messages], tools=None, documents=None, add_generation_prompt=False,
            **self.tokens,
        )  # fmt: skip
