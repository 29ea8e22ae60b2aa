"""Token counting: one protocol, several backends (HF tokenizer.json, SentencePiece, tiktoken).

Every counter counts text with no special tokens added. ``space_exact`` says whether the
counter's vocabulary makes spaces and newlines hard token boundaries (SentencePiece-style BPE),
``pretoken_exact`` whether it is byte-level BPE over a split pattern whose joins are known (see
:mod:`mosaicit.budget.pretoken`): either way the count of a joined text can be composed exactly from
the counts of its parts (see :mod:`mosaicit.budget.budget`).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import orjson

from mosaicit.budget.pieces import AsciiPieces, byte_chars
from mosaicit.budget.pretoken import SPLIT_PATTERNS
from mosaicit.errors import MosaicitError
from mosaicit.extras import require

DEFAULT_TOKENIZER = "default"
#: Batches smaller than this are encoded one text at a time, on the calling thread.
SMALL_BATCH = 32
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


class TokenCounter(Protocol):
    """Counts tokens of text, without special tokens."""

    name: str
    fingerprint: str
    space_exact: bool
    pretoken_exact: bool
    specials: tuple[str, ...]

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


@dataclass
class FunctionCounter:
    """A counter built from a batch-encode function; the shape every backend takes."""

    name: str
    fingerprint: str
    encode_many: Callable[[list[str]], list[int]]
    encode_one: Callable[[str], int] | None = None
    space_exact: bool = False
    specials: tuple[str, ...] = ()
    #: Space-exact counters: the count of each clean word (no space after a non-space, no
    #: special-token string), faster than :meth:`count_many` where the backend can tell.
    word_counts: Callable[[list[str]], list[int]] | None = None
    pretoken_exact: bool = False
    #: The tokenizer normalizes texts to NFC before it splits them.
    nfc: bool = False
    #: Counts plain ASCII texts without the tokenizer's split step (byte-level BPE only).
    pieces: AsciiPieces | None = None
    #: A lower bound on a text's count, found without tokenizing it (for backends where one is
    #: certain: every character of the text is covered by some token, none longer than the
    #: longest in the vocabulary); None where no bound is known. It lets a run reject a record
    #: far over the budget (a 100 MB single word) without tokenizing it.
    least_tokens: Callable[[str], int] | None = None
    _cache: dict[str, int] = field(default_factory=dict, repr=False)

    def count(self, text: str) -> int:
        """Count one text (memoised: used for short fixed strings)."""
        hit = self._cache.get(text)
        if hit is None:
            one = self.encode_one
            hit = self._cache[text] = one(text) if one else self.encode_many([text])[0]
            if len(self._cache) > 50_000:
                self._cache.clear()
        return hit

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Count many texts in one batch."""
        return self.encode_many(list(texts)) if texts else []


def _sha256(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _plain_bpe(model: dict[str, Any]) -> bool:
    """A deterministic BPE model (no dropout) with no subword prefix or suffix."""
    if model.get("type") != "BPE" or model.get("dropout") not in (None, 0, 0.0):
        return False
    return not any(model.get(k) for k in ("continuing_subword_prefix", "end_of_word_suffix"))


def _space_exact_hf(spec: dict[str, Any], vocab: Callable[[], Iterable[str]]) -> bool:
    """True for SentencePiece-style BPE where spaces and newlines are hard token boundaries.

    Requires the Llama/Mistral layout: a ``Prepend("▁")`` + ``Replace(" ", "▁")`` normalizer,
    no pre-tokenizer, a deterministic BPE model that merges across the whole text (no
    ``ignore_merges``, no subword prefix or suffix), and a vocabulary in which no token holds a
    newline and no token holds "▁" after another character (other than runs of "▁").
    ``spec`` is :func:`_pipeline`'s; ``vocab`` gives the model's tokens, read only when the rest
    matches.
    """
    model = spec.get("model") or {}
    norm = spec.get("normalizer") or {}
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    expected = [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
    ]
    if steps != expected or spec.get("pre_tokenizer") is not None:
        return False
    if not _plain_bpe(model) or model.get("ignore_merges"):
        return False
    for token in vocab():
        if "\n" in token or ("▁" in token[1:] and set(token) != {"▁"}):
            return False
    return True


def _pretoken_exact_hf(spec: dict[str, Any]) -> bool:
    """True for byte-level BPE over a known split pattern (see :mod:`mosaicit.budget.pretoken`).

    Requires the Llama-3/Qwen layout: no normalizer or NFC, a ``Split`` pre-tokenizer with one
    of :data:`~mosaicit.budget.pretoken.SPLIT_PATTERNS` (pieces kept whole) followed by a ``ByteLevel``
    step that adds no prefix space and splits no further, and a deterministic BPE model with
    no subword prefix or suffix.
    """
    model = spec.get("model") or {}
    norm = spec.get("normalizer")
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    if norm not in (None, {"type": "NFC"}) or len(steps) != 2:
        return False
    split, byte_level = steps
    if split.get("type") != "Split" or (split.get("pattern") or {}).get("Regex") not in SPLIT_PATTERNS:
        return False
    if split.get("behavior") != "Isolated" or split.get("invert"):
        return False
    if byte_level.get("type") != "ByteLevel" or any(
        byte_level.get(k) for k in ("add_prefix_space", "use_regex")
    ):
        return False
    return _plain_bpe(model)


#: A text every usable tokenizer counts as some tokens: letters, digits, punctuation, space,
#: accents, CJK and an emoji.
PROBE = "Hello, world! 42 café 漢字 🙂\n"


def hf_counter(path: str | Path, name: str | None = None) -> FunctionCounter:
    """A counter for a Hugging Face ``tokenizer.json`` file."""
    from tokenizers import Tokenizer

    raw = Path(path).read_bytes()
    try:
        tok = Tokenizer.from_str(raw.decode("utf-8"))
    except Exception as exc:  # the tokenizers library raises plain Exceptions
        raise MosaicitError(f"{path}: not a usable tokenizer.json: {str(exc)[:200]}") from None
    try:
        probe = len(tok.encode(PROBE, add_special_tokens=False))
    except Exception as exc:  # e.g. an unknown-token string missing from the vocabulary
        raise MosaicitError(f"{path}: not a usable tokenizer.json: {str(exc)[:200]}") from None
    if not tok.get_vocab_size(with_added_tokens=False) or not probe:
        raise MosaicitError(f"{path}: not a usable tokenizer.json: its vocabulary is empty")
    return _from_hf_tokenizer(tok, name or str(path), _sha256(b"hf", raw))


def _pipeline(tok: Any) -> dict[str, Any]:
    """What decides whether a tokenizer's counts compose, in the shape its ``tokenizer.json`` has:
    the normalizer, the pre-tokenizer and the model's settings (not its vocabulary), read from
    the loaded tokenizer, which costs far less than parsing the file a second time."""

    def part(step: Any) -> Any:
        return None if step is None else orjson.loads(step.__getstate__())

    model = tok.model
    settings = ("dropout", "continuing_subword_prefix", "end_of_word_suffix", "ignore_merges")
    return {
        "normalizer": part(tok.normalizer),
        "pre_tokenizer": part(tok.pre_tokenizer),
        "model": {"type": type(model).__name__, **{k: getattr(model, k, None) for k in settings}},
    }


def _from_hf_tokenizer(tok: Any, name: str, fingerprint: str) -> FunctionCounter:
    spec = _pipeline(tok)
    tok.no_truncation()
    tok.no_padding()
    specials = tuple(t.content for t in tok.get_added_tokens_decoder().values())
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)

    def encode_one(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    def encode_many(texts: list[str]) -> list[int]:
        if len(texts) < SMALL_BATCH:  # waking the library's thread pool costs more than it saves
            return [encode_one(t) for t in texts]
        return [len(e) for e in encode(texts, add_special_tokens=False)]

    pretoken_exact = _pretoken_exact_hf(spec)
    pieces = None
    if pretoken_exact:  # plain ASCII texts are cut and counted piece by piece here, faster
        pattern = spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        pieces = AsciiPieces(pattern, tok.model, specials)
        whole_one, whole_many = encode_one, encode_many

        def encode_one(text: str) -> int:
            return pieces.count(text) if pieces.covers(text) else whole_one(text)

        def encode_many(texts: list[str]) -> list[int]:
            out = pieces.count_many(texts)
            rest = [i for i, n in enumerate(out) if n < 0]
            for i, n in zip(rest, whole_many([texts[i] for i in rest]) if rest else (), strict=True):
                out[i] = n
            return out

    space_exact = _space_exact_hf(spec, lambda: tok.get_vocab(with_added_tokens=False))
    word_counts = None
    if space_exact:  # a word's count is its BPE alone: no need to run the whole pipeline
        tokenize = tok.model.tokenize

        def word_counts(words: list[str]) -> list[int]:
            return [len(tokenize("▁" + w.replace(" ", "▁"))) for w in words]

    nfc = spec.get("normalizer") == {"type": "NFC"}
    return FunctionCounter(
        name, fingerprint, encode_many, encode_one, space_exact, specials, word_counts,
        pretoken_exact, nfc, pieces, _least_tokens_hf(tok, pretoken_exact, space_exact, nfc),
    )  # fmt: skip


def _least_tokens_hf(tok: Any, byte_level: bool, space_exact: bool, nfc: bool) -> Callable[[str], int] | None:
    """:attr:`FunctionCounter.least_tokens` for a Hugging Face tokenizer whose tokens cover every
    character: byte-level BPE whose vocabulary holds all 256 byte characters (bytes of the NFC
    text, when it normalizes to NFC), or SentencePiece-style BPE with byte fallback (characters:
    its normalizer only adds). Each token covers at most as many bytes or characters as its
    string is long (a special token's string too); the bound is halved again for safety."""
    if not (byte_level or (space_exact and getattr(tok.model, "byte_fallback", False))):
        return None
    vocab = tok.get_vocab(with_added_tokens=False)
    if byte_level and not set(byte_chars().values()) <= vocab.keys():
        return None
    added = (t.content for t in tok.get_added_tokens_decoder().values())
    longest = max(max(map(len, vocab)), max((len(t.encode("utf-8")) for t in added), default=1))

    def least(text: str) -> int:
        if byte_level:
            if nfc and not text.isascii():
                text = unicodedata.normalize("NFC", text)
            return len(text.encode("utf-8", "surrogatepass")) // (2 * longest)
        return len(text) // (2 * longest)

    return least


def sentencepiece_counter(path: str | Path) -> FunctionCounter:
    """A counter for a SentencePiece ``.model`` file."""
    spm = require("sentencepiece")
    raw = Path(path).read_bytes()
    proc = spm.SentencePieceProcessor()
    try:
        proc.LoadFromSerializedProto(raw)
    except Exception as exc:  # sentencepiece raises RuntimeError/OSError variants
        raise MosaicitError(f"{path}: not a usable SentencePiece model: {str(exc)[:200]}") from None

    def encode_many(texts: list[str]) -> list[int]:
        return [len(ids) for ids in proc.encode(texts)]

    return FunctionCounter(str(path), _sha256(b"spm", raw), encode_many)


def tiktoken_counter(path: str | Path) -> FunctionCounter:
    """A counter for a tiktoken rank file (``*.tiktoken``), with the cl100k split pattern."""
    tiktoken = require("tiktoken")
    load_tiktoken_bpe = require("tiktoken.load").load_tiktoken_bpe

    raw = Path(path).read_bytes()
    try:
        ranks = load_tiktoken_bpe(str(path))
    except Exception as exc:  # tiktoken raises ValueError/binascii errors
        raise MosaicitError(f"{path}: not a usable tiktoken rank file: {str(exc)[:200]}") from None
    missing = sum(bytes([b]) not in ranks for b in range(256))
    if missing:  # tiktoken's encoder panics on a byte it has no rank for
        raise MosaicitError(
            f"{path}: not a usable tiktoken rank file: {missing} of the 256 single bytes have no rank "
            f"({len(ranks)} ranks read; is the file empty or cut short?)"
        )
    enc = tiktoken.Encoding(Path(path).stem, pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})

    def encode_many(texts: list[str]) -> list[int]:
        for text in texts:
            if len(text) > TIKTOKEN_SPACE_RUN:
                check_space_runs(text)
        return [len(ids) for ids in enc.encode_ordinary_batch(texts)]

    longest = max(map(len, ranks))

    def least(text: str) -> int:  # every byte is covered by a rank no longer than the longest
        return len(text.encode("utf-8", "surrogatepass")) // longest

    return FunctionCounter(
        str(path), _sha256(b"tiktoken", raw), encode_many, pretoken_exact=True, least_tokens=least
    )


#: The longest run of white space that a tiktoken vocabulary is asked to count: its split pattern
#: overflows the stack (a Rust panic) on runs of about a million spaces, and slows down well before.
TIKTOKEN_SPACE_RUN = 100_000
SPACE_RUN = re.compile(r"\s+")


def check_space_runs(text: str) -> None:
    """Raise one error if ``text`` holds a run of white space longer than tiktoken can count."""
    longest = max((m.end() - m.start() for m in SPACE_RUN.finditer(text)), default=0)
    if longest > TIKTOKEN_SPACE_RUN:
        raise MosaicitError(
            f"a run of {longest:,} white-space characters: longer than the {TIKTOKEN_SPACE_RUN:,} "
            "that a tiktoken vocabulary can count"
        )


def _transformers_counter(name: str) -> FunctionCounter:
    """A counter for a tokenizer that the user's own Hugging Face cache already holds."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MosaicitError(
            f"{name}: no such file or folder (install 'transformers' to name a cached hub tokenizer)"
        ) from None
    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception:  # transformers raises OSError/ValueError/HF errors
        raise MosaicitError(
            f"{name}: no such file or folder, and not a tokenizer in the local Hugging Face cache"
        ) from None
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise MosaicitError(f"{name}: only fast (tokenizer.json) tokenizers are supported")
    fingerprint = _sha256(b"hf", backend.to_str().encode("utf-8"))
    return _from_hf_tokenizer(backend, name, fingerprint)


def default_tokenizer_path() -> Path:
    """The bundled default tokenizer (Mistral-7B v0.1, Apache-2.0)."""
    return Path(str(resources.files("mosaicit.data").joinpath("tokenizer", "tokenizer.json")))


#: The files of a tokenizer folder that a run may read: the tokenizer, its configuration and its
#: chat template (see :func:`load_counter` and :mod:`mosaicit.render.jinja_chat`), and ``*.tiktoken``.
FOLDER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
)


def tokenizer_files(spec: str | os.PathLike[str] | None, with_folder: bool = False) -> list[Path]:
    """Every file that loading the tokenizer ``spec`` may read: the file itself, or those of
    :data:`FOLDER_FILES` (and ``*.tiktoken``) in the folder; ``with_folder``: a file's folder too
    (``--template chat`` reads its chat template there)."""
    if spec is None or str(spec) == DEFAULT_TOKENIZER:
        return []
    path = Path(spec)
    files = [path] if path.is_file() else []
    folder = path if path.is_dir() else path.parent if files and with_folder else None
    if folder is not None:
        files += [folder / name for name in FOLDER_FILES if (folder / name).is_file()]
        files += sorted(folder.glob("*.tiktoken"))
    return files


def load_counter(spec: str | os.PathLike[str] | None = None) -> FunctionCounter:
    """Load a counter from a file or folder path, ``None``/``"default"``, or a locally cached hub id.

    A folder is searched for ``tokenizer.json``, then ``tokenizer.model``, then ``*.tiktoken``.
    Nothing is ever downloaded.
    """
    if spec is None or str(spec) == DEFAULT_TOKENIZER:
        counter = hf_counter(default_tokenizer_path(), name="default (mistral-7b-v0.1)")
        return counter
    path = Path(spec)
    if path.is_dir():
        for candidate in ("tokenizer.json", "tokenizer.model"):
            if (path / candidate).is_file():
                return load_counter(path / candidate)
        ranks = sorted(path.glob("*.tiktoken"))
        if ranks:
            return tiktoken_counter(ranks[0])
        raise MosaicitError(f"{path}: folder has no tokenizer.json, tokenizer.model or *.tiktoken")
    if path.is_file():
        if path.suffix == ".model":
            return sentencepiece_counter(path)
        if path.suffix == ".tiktoken":
            return tiktoken_counter(path)
        return hf_counter(path)
    text = str(spec)
    if text.startswith((".", "/", "~")) or path.suffix in (".json", ".model", ".tiktoken"):
        raise MosaicitError(f"{spec}: no such tokenizer file or folder")
    return _transformers_counter(text)
