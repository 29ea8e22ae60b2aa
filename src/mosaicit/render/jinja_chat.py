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
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mosaicit.errors import MosaicitError
from mosaicit.extras import require

#: The special-token attributes a template sees as variables (``transformers``' list).
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it (a string or an AddedToken dict)."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_chat_config(folder: Path) -> tuple[str | None, dict[str, Any]]:
    """The chat template of a tokenizer folder (None if it has none) and its special tokens."""
    config: dict[str, Any] = {}
    path = folder / "tokenizer_config.json"
    if path.is_file():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MosaicitError(f"{path}: not a readable tokenizer config: {exc}") from None
    template: Any = config.get("chat_template")
    if (folder / "chat_template.json").is_file():
        saved = json.loads((folder / "chat_template.json").read_text(encoding="utf-8"))
        template = saved.get("chat_template")
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


def compile_template(text: str) -> Callable[..., str]:
    """The ``render(**variables)`` of a chat template, in ``transformers``' Jinja environment."""
    jinja2 = require("jinja2")
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace as JinjaNamespace

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

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals.update(
        raise_exception=raise_exception, strftime_now=strftime_now, dict=Dict(), namespace=Namespace
    )
    return env.from_string(text).render  # type: ignore[no-any-return]


class JinjaChat:
    """A chat template with the special tokens it sees: ``render(messages)`` is the text
    ``apply_chat_template(messages, tokenize=False)`` gives."""

    def __init__(self, template: str, tokens: dict[str, Any]) -> None:
        self.template = template
        self.tokens = tokens
        self._render = compile_template(template)

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The rendered text of ``messages`` (no generation prompt, no tools)."""
        return self._render(
            messages=[dict(m) for m in messages], tools=None, documents=None, add_generation_prompt=False,
            **self.tokens,
        )  # fmt: skip
