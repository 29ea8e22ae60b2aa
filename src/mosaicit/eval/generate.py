"""Answer an eval set with a local Hugging Face causal LM (transformers, CPU or GPU), never downloading.

transformers and torch are optional (``pip install 'mosaicit[eval]'``) and imported only here,
when generation runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mosaicit.errors import MosaicitError
from mosaicit.eval.evalset import EvalItem, read_evalset
from mosaicit.io.atomic import atomic_open

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _libraries() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MosaicitError(
            f"eval generate needs transformers and torch ({exc.name} is missing): "
            "pip install 'mosaicit[eval]'"
        ) from None
    return torch, transformers


def find_gguf(model_dir: Path, gguf_file: str | None) -> str | None:
    """The GGUF file to load from ``model_dir``: the one given, or the only one when there is no config."""
    if gguf_file:
        if not (model_dir / gguf_file).is_file():
            raise MosaicitError(f"{model_dir / gguf_file}: no such GGUF file")
        return gguf_file
    if (model_dir / "config.json").is_file():
        return None
    found = sorted(p.name for p in model_dir.glob("*.gguf"))
    if len(found) > 1:
        raise MosaicitError(
            f"{model_dir}: several GGUF files ({', '.join(found)}); choose one with --gguf-file"
        )
    if not found:
        raise MosaicitError(f"{model_dir}: no config.json and no .gguf file: not a model folder")
    return found[0]


def load_model(
    model_dir: str | Path, gguf_file: str | None = None, device: str = "auto", dtype: str = "auto"
) -> tuple[Any, Any, str]:
    """Load a tokenizer and causal LM from a local folder, offline; return them and the device."""
    torch, transformers = _libraries()
    path = Path(model_dir)
    if not path.is_dir():
        raise MosaicitError(f"{model_dir}: no such model folder")
    if dtype not in DTYPES:
        raise MosaicitError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    extra: dict[str, Any] = {"local_files_only": True}
    gguf = find_gguf(path, gguf_file)
    if gguf:
        extra["gguf_file"] = gguf
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), **extra)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path), dtype=getattr(torch, dtype), **extra
        )
    except (OSError, ValueError) as exc:
        raise MosaicitError(f"{model_dir}: cannot load the model: {str(exc).splitlines()[0]}") from None
    model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model, device


def prompt_texts(tokenizer: Any, items: Sequence[EvalItem], chat_template: bool = True) -> list[str]:
    """Each item's input text: its messages through the tokenizer's chat template, or the bare prompt."""
    if not chat_template:
        return [item.prompt for item in items]
    if not getattr(tokenizer, "chat_template", None):
        raise MosaicitError("the tokenizer has no chat template; pass --no-chat-template to use bare prompts")
    return [
        tokenizer.apply_chat_template(item.messages, tokenize=False, add_generation_prompt=True)
        for item in items
    ]


def generate_texts(
    tokenizer: Any,
    model: Any,
    texts: Sequence[str],
    max_new_tokens: int = 256,
    batch_size: int = 8,
    temperature: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Generate a reply per text, in batches of similar length with left padding (greedy at temperature 0)."""
    torch, _ = _libraries()
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    replies: list[str] = [""] * len(texts)
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(model.device)
        with torch.no_grad():
            out = model.generate(
                **batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
            )
        width = batch["input_ids"].shape[1]
        for i, row in zip(chunk, out[:, width:], strict=True):
            replies[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
        if progress:
            progress(len(chunk))
    return replies


def generate_answers(
    evalset: str | Path | Sequence[EvalItem],
    model_dir: str | Path,
    output: str | Path | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    limit: int | None = None,
    gguf_file: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    temperature: float = 0.0,
    seed: int = 0,
    chat_template: bool = True,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, str]]:
    """Answer the first ``limit`` prompts (default all); write ``{id, response}`` JSONL to ``output``."""
    if min(max_new_tokens, batch_size, limit or 1, threads or 1) < 1:
        raise MosaicitError("--max-new-tokens, --batch-size, --limit and --threads must be at least 1")
    items = read_evalset(evalset) if isinstance(evalset, str | Path) else list(evalset)
    items = items[:limit] if limit else items
    torch, _ = _libraries()
    if threads:
        torch.set_num_threads(threads)
    tokenizer, model, _ = load_model(model_dir, gguf_file, device, dtype)
    torch.manual_seed(seed)
    texts = prompt_texts(tokenizer, items, chat_template)
    replies = generate_texts(tokenizer, model, texts, max_new_tokens, batch_size, temperature, progress)
    rows = [{"id": item.id, "response": reply} for item, reply in zip(items, replies, strict=True)]
    if output is not None:
        with atomic_open(output) as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return rows
