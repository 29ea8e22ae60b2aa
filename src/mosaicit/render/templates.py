"""What the budget counts around a sample: the bare texts, or a trainer's chat rendering."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mosaicit.errors import MosaicitError, ParamError
from mosaicit.io.streams import read_head
from mosaicit.render.jinja_chat import JinjaChat, read_chat_config
from mosaicit.types.segments import Segment


class Template(Protocol):
    """Frames a sample's instruction and output the way the trainer will tokenize them."""

    name: str

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """The separately tokenized texts, as layouts, whose counts add up to the sample's."""
        ...

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The same texts, rendered."""
        ...

    def conversation(self, system: str, turns: Sequence[tuple[str, str]]) -> list[str]:
        """The texts of a whole (multi-turn) conversation, rendered, for passthrough samples."""
        ...


class BareTemplate:
    """Counts the instruction and the output as two plain texts, as the research script did."""

    name = "none"

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """The instruction and the output, each tokenized alone."""
        return [list(instruction), list(output)]

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The instruction and the output."""
        return [instruction, output]

    def conversation(self, system: str, turns: Sequence[tuple[str, str]]) -> list[str]:
        """Every user and assistant text of a conversation, each tokenized alone."""
        return [text for pair in turns for text in pair]


VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


class VicunaTemplate:
    """FastChat's ``vicuna_v1.1``: ``{system} USER: {instruction} ASSISTANT: {output}</s>``.

    ``bos``/``eos`` are the special tokens the tokenizer itself adds around a text (the
    ``<s>`` of Llama-style tokenizers), which FastChat's training script keeps; ``</s>`` in
    the text is counted as the tokenizer reads it (one special token when it is one).
    A sample without a system prompt gets FastChat's default one, as FastChat does.
    """

    name = "vicuna_v1.1"

    def __init__(self, bos: str = "", eos: str = "") -> None:
        self.bos, self.eos = bos, eos

    def _head(self, system: str) -> str:
        return f"{self.bos}{system or VICUNA_SYSTEM} "

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """One text: the head, the instruction and the output between their role labels."""
        return [[self._head(system) + "USER: ", *instruction, " ASSISTANT: ", *output, "</s>" + self.eos]]

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The rendered prompt, as FastChat builds it, with the tokenizer's own affixes."""
        return self.conversation(system, [(instruction, output)])

    def conversation(self, system: str, turns: Sequence[tuple[str, str]]) -> list[str]:
        """A whole conversation rendered the same way."""
        body = "".join(f"USER: {user} ASSISTANT: {answer}</s>" for user, answer in turns)
        return [self._head(system) + body + self.eos]


class ChatMLTemplate:
    """ChatML: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message; system only if given."""

    name = "chatml"

    @staticmethod
    def _block(role: str, content: str) -> str:
        return f"<|im_start|>{role}\n{content}<|im_end|>\n"

    def _head(self, system: str) -> str:
        return self._block("system", system) if system else ""

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """One text: the optional system block, the user block and the assistant block."""
        return [
            [
                self._head(system) + "<|im_start|>user\n",
                *instruction,
                "<|im_end|>\n<|im_start|>assistant\n",
                *output,
                "<|im_end|>\n",
            ]
        ]

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The rendered ChatML text."""
        return self.conversation(system, [(instruction, output)])

    def conversation(self, system: str, turns: Sequence[tuple[str, str]]) -> list[str]:
        """A whole conversation in ChatML."""
        body = "".join(self._block("user", u) + self._block("assistant", a) for u, a in turns)
        return [self._head(system) + body]


#: Stand-ins rendered in place of the texts, then cut out: private-use characters, mixed case
#: (so a template that changes case is caught), no spaces (so one that trims is not).
SENTINELS = {role: f"\ue000Mosaicit.{role}\ue001" for role in ("system", "user", "assistant")}


class ChatTemplate:
    """The tokenizer's own chat template, rendered as ``transformers``' ``apply_chat_template``
    renders it (see :mod:`mosaicit.render.jinja_chat`).

    What is counted is what TRL's SFT trainer tokenizes: the rendered text (BOS and other
    special tokens included when the template writes them), with special-token strings read
    as special tokens and nothing added by the tokenizer. For the budget the template is
    rendered once per shape (with or without a system prompt) with sentinel strings in place
    of the texts, and cut around them into fixed strings and record pieces; :meth:`texts`
    renders the real thing, which the composer uses to verify every sample.
    """

    name = "chat"

    def __init__(self, chat: JinjaChat, source: str) -> None:
        self.chat = chat
        self.source = source
        self.template = chat.template
        self._shapes: dict[bool, tuple[str, ...]] = {}

    def render(self, messages: list[dict[str, str]]) -> str:
        """The rendered text of ``messages``; a template error becomes a one-line MosaicitError."""
        try:
            text = self.chat.render(messages)
        except Exception as exc:  # jinja2 and the template's raise_exception raise anything
            roles = "/".join(m["role"] for m in messages)
            detail = " ".join(str(exc).split())[:200]
            raise MosaicitError(
                f"the chat template of {self.source} failed to render {roles}: {detail}"
            ) from None
        if not isinstance(text, str):
            raise MosaicitError(f"the chat template of {self.source} did not render text")
        return text

    @staticmethod
    def messages(system: str, turns: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        """The message list of a conversation."""
        out = [{"role": "system", "content": system}] if system else []
        for user, answer in turns:
            out += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        return out

    def shape(self, with_system: bool) -> tuple[str, ...]:
        """The fixed strings around (system,) user and assistant text for one exchange."""
        cached = self._shapes.get(with_system)
        if cached is not None:
            return cached
        roles = ("system", "user", "assistant") if with_system else ("user", "assistant")
        probe = [{"role": r, "content": SENTINELS[r]} for r in roles]
        text = self.render(probe)
        parts = []
        for role in roles:
            before, sep, text = text.partition(SENTINELS[role])
            if not sep or SENTINELS[role] in text or any(s in before for s in SENTINELS.values()):
                raise MosaicitError(
                    f"the chat template of {self.source} does not write the {role} text once and in order; "
                    "use --template chatml/vicuna_v1.1/none"
                )
            parts.append(before)
        parts.append(text)
        self._shapes[with_system] = tuple(parts)
        return self._shapes[with_system]

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """One text: the template's fixed strings with the system, instruction and output in place."""
        if system:
            pre, mid_system, mid, post = self.shape(True)
            head: list[Segment] = [pre, system, mid_system]
        else:
            pre, mid, post = self.shape(False)
            head = [pre]
        return [[*head, *instruction, mid, *output, post]]

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The rendered text of one exchange."""
        return [self.render(self.messages(system, [(instruction, output)]))]

    def conversation(self, system: str, turns: Sequence[tuple[str, str]]) -> list[str]:
        """The rendered text of a whole conversation."""
        return [self.render(self.messages(system, turns))]


TEMPLATES = ("none", "vicuna_v1.1", "chatml", "chat")
#: The largest ``--chat-template`` file read (real ones are a few KiB).
MAX_TEMPLATE_BYTES = 1 << 20


def tokenizer_json(spec: str | os.PathLike[str] | None) -> Path | None:
    """The ``tokenizer.json`` that a ``--tokenizer`` value names, if it names one."""
    from mosaicit.budget.tokens import default_tokenizer_path

    if spec is None or str(spec) == "default":
        return default_tokenizer_path()
    path = Path(spec)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return path / "tokenizer.json"
    return path if path.is_file() and path.suffix == ".json" else None


def added_affixes(spec: str | os.PathLike[str] | None) -> tuple[str, str]:
    """The special-token text a tokenizer adds before and after a text (e.g. ``("<s>", "")``)."""
    path = tokenizer_json(spec)
    if path is None:
        return "", ""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    bare = tok.encode("a", add_special_tokens=False).ids
    full = tok.encode("a", add_special_tokens=True).ids
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            before, after = full[:start], full[start + len(bare) :]
            return "".join(tok.id_to_token(i) or "" for i in before), "".join(
                tok.id_to_token(i) or "" for i in after
            )
    return "", ""


def chat_folder(spec: str | os.PathLike[str] | None) -> Path:
    """The tokenizer folder that ``--template chat`` reads its template and tokenizer from."""
    if spec is None:
        raise MosaicitError("--template chat needs --tokenizer: a tokenizer folder with a chat template")
    path = Path(spec)
    folder = path.parent if path.is_file() else path
    if not (folder / "tokenizer.json").is_file():
        raise MosaicitError(
            f"{folder}: --template chat needs a fast tokenizer (a folder with tokenizer.json)"
        )
    return folder


def load_template(
    name: str,
    tokenizer: str | os.PathLike[str] | None = None,
    chat_template: str | os.PathLike[str] | None = None,
) -> Template:
    """The template called ``name``; ``chat`` reads it from the tokenizer folder (or ``chat_template``).

    A ``chat`` run counts with that folder's tokenizer (:func:`mosaicit.run.assemble.counter_for`).
    """
    if name == "none":
        return BareTemplate()
    if name == "vicuna_v1.1":
        return VicunaTemplate(*added_affixes(tokenizer))
    if name == "chatml":
        return ChatMLTemplate()
    if name == "chat":
        folder = chat_folder(tokenizer)
        text, tokens = read_chat_config(folder)
        source = str(folder)
        if chat_template is not None:
            try:
                data = read_head(str(chat_template), MAX_TEMPLATE_BYTES)
            except OSError as exc:
                raise MosaicitError(
                    f"{chat_template}: cannot read the chat template: {exc.strerror}"
                ) from None
            if len(data) > MAX_TEMPLATE_BYTES:
                raise MosaicitError(f"{chat_template}: chat templates larger than 1 MiB are not read")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MosaicitError(f"{chat_template}: not UTF-8 text (byte {exc.start})") from None
            source = str(chat_template)
        if not text:
            raise MosaicitError(
                f"{source}: the tokenizer has no chat template; "
                "pass --chat-template FILE or another --template"
            )
        return ChatTemplate(JinjaChat(text, tokens, source), source)
    raise ParamError("template", f"must be one of {', '.join(TEMPLATES)}, got {name!r}")
