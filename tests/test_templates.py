"""Templates: renderings match FastChat/ChatML/transformers, and frames lay out exactly what is rendered."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import ROOT, TOKENIZERS
from formats_helpers import VICUNA_SYSTEM, fastchat_vicuna, hf_tokenizer
from mosaicit.errors import MosaicitError
from mosaicit.render.layout import join
from mosaicit.render.templates import (
    BareTemplate,
    ChatMLTemplate,
    ChatTemplate,
    VicunaTemplate,
    added_affixes,
    load_template,
)
from mosaicit.run.assemble import counter_for
from mosaicit.types.segments import Piece

EXCHANGES = [
    ("", [("What is 2+2?", "4")]),
    ("You are terse.", [("Name a colour.", "Blue.")]),
    ("", [("Hi\n\nthere", "Hello!\n- one\n- two"), ("And then?", "Done.")]),
    ("Sys", [("a", "b"), ("c", "d"), ("e", "f")]),
]


def _messages(system, turns):
    out = [{"role": "system", "content": system}] if system else []
    for user, answer in turns:
        out += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return out


@pytest.mark.parametrize(("system", "turns"), EXCHANGES)
def test_vicuna_is_fastchat_with_the_tokenizer_bos(system, turns):
    template = VicunaTemplate(bos="<s>")
    [text] = template.conversation(system, turns)
    assert text == "<s>" + fastchat_vicuna(_messages(system, turns))
    if len(turns) == 1:
        assert template.texts(*turns[0], system) == [text]


def test_vicuna_default_system_and_separators():
    [text] = VicunaTemplate().texts("Q", "A", "")
    assert text == f"{VICUNA_SYSTEM} USER: Q ASSISTANT: A</s>"


@pytest.mark.parametrize(("system", "turns"), EXCHANGES)
def test_chatml(system, turns):
    [text] = ChatMLTemplate().conversation(system, turns)
    expected = "".join(
        f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in _messages(system, turns)
    )
    assert text == expected


@pytest.mark.parametrize(
    ("name", "affixes"),
    [
        ("llama-2", ("<s>", "")),
        ("mistral-7b-v0.1", ("<s>", "")),
        ("llama-3.1", ("<|begin_of_text|>", "")),
        ("qwen3", ("", "")),
    ],
)
def test_added_affixes_follow_the_tokenizer(name, affixes):
    assert added_affixes(TOKENIZERS / name) == affixes


@pytest.mark.parametrize("name", ["llama-2", "llama-3.1", "mistral-7b-v0.1"])
def test_vicuna_count_equals_what_fastchat_tokenizes(name, counters):
    """FastChat tokenizes the prompt with the tokenizer's defaults (BOS added); we count the same."""
    template = load_template("vicuna_v1.1", TOKENIZERS / name)
    tok = hf_tokenizer(name)
    for system, turns in EXCHANGES:
        prompt = fastchat_vicuna(_messages(system, turns))
        expected = len(tok(prompt).input_ids)
        assert sum(counters(name).count_many(template.conversation(system, turns))) == expected


def _layout_matches(template, system):
    """A frame, with its pieces filled in, is exactly the rendered text."""
    texts = {
        (0, "prompt"): "Do the first thing.\nWith context",
        (0, "output"): "Done: first.",
        (1, "prompt"): "Second?",
    }
    instruction = ["Meta.\n\n1. ", Piece(0, "prompt"), "\n2. ", Piece(1, "prompt")]
    output = ["1. ", Piece(0, "output")]
    frames = template.frame(instruction, output, system)
    rendered = template.texts(join(instruction, texts), join(output, texts), system)
    assert [join(f, texts) for f in frames] == rendered


@pytest.mark.parametrize("system", ["", "You are a pirate."])
@pytest.mark.parametrize(
    "template", [BareTemplate(), VicunaTemplate("<s>"), ChatMLTemplate()], ids=lambda t: t.name
)
def test_frames_lay_out_the_rendering(template, system):
    _layout_matches(template, system)


@pytest.mark.parametrize("system", ["", "You are a pirate."])
@pytest.mark.parametrize("name", ["llama-3.1", "qwen3"])
def test_chat_template_frames_and_texts(name, system):
    template, counter = load_template("chat", TOKENIZERS / name), counter_for("chat", TOKENIZERS / name)
    assert isinstance(template, ChatTemplate)
    _layout_matches(template, system)
    tok = hf_tokenizer(name)
    for sys_prompt, turns in EXCHANGES:
        messages = _messages(sys_prompt, turns)
        [text] = template.conversation(sys_prompt, turns)
        assert text == tok.apply_chat_template(messages, tokenize=False)
        ids = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        assert counter.count(text) == len(ids)  # specials counted once each, nothing added


def _tokenizer_copy(tmp_path, name, template):
    folder = tmp_path / name
    shutil.copytree(TOKENIZERS / name, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    if template is None:
        config.pop("chat_template", None)
    else:
        config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


NO_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
)
UPPER = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"


def test_chat_template_errors(tmp_path):
    with pytest.raises(MosaicitError, match="has no chat template"):
        load_template("chat", _tokenizer_copy(tmp_path, "llama-2", None))
    template = load_template("chat", _tokenizer_copy(tmp_path, "qwen3", NO_SYSTEM))
    assert template.texts("Q", "A", "") == ["user: Q\nassistant: A\n"]
    with pytest.raises(
        MosaicitError, match="failed to render system/user/assistant: System role not supported"
    ):
        template.texts("Q", "A", "S")
    upper = load_template("chat", _tokenizer_copy(tmp_path / "u", "qwen3", UPPER))
    with pytest.raises(MosaicitError, match="does not write the user text once and in order"):
        upper.frame(["x"], ["y"], "")
    with pytest.raises(MosaicitError, match="--template chat needs --tokenizer"):
        load_template("chat", None)
    with pytest.raises(MosaicitError, match="^template must be one of"):
        load_template("alpaca")


def test_chat_template_file_overrides(tmp_path):
    path = tmp_path / "t.jinja"
    path.write_text(
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}", encoding="utf-8"
    )
    template = load_template("chat", TOKENIZERS / "llama-3.1", path)
    assert template.texts("Q", "A", "S") == ["<system>S<user>Q<assistant>A"]


ODD_TEXTS = [
    "{{ bos_token }} {% raw %}x{% endraw %} {# not a comment #}",
    "<|eot_id|> and <|im_end|> written as text",
    "naïve café 🧩 \u200b\u2028 tab\tend",
    "  leading and trailing spaces  ",
    "",
]


@pytest.mark.parametrize("name", ["llama-3.1", "qwen3"])
def test_chat_templates_render_as_transformers_renders_them(name, tmp_path):
    """mosaicit renders chat templates itself (no transformers import); the text must be the one
    ``apply_chat_template`` gives, for odd texts too, and with special tokens written as dicts."""
    template = load_template("chat", TOKENIZERS / name)
    tok = hf_tokenizer(name)
    cases = [(s, [(u, a)]) for s in ("", "Sys {{x}}") for u in ODD_TEXTS for a in ODD_TEXTS[:3]]
    for system, turns in cases:
        [text] = template.conversation(system, turns)
        assert text == tok.apply_chat_template(_messages(system, turns), tokenize=False)
    # a config that writes its special tokens as AddedToken dicts, with the template in its own file
    folder = _tokenizer_copy(tmp_path, name, None)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    for key in ("bos_token", "eos_token"):
        if isinstance(config.get(key), str):
            config[key] = {"content": config[key], "special": True, "__type": "AddedToken"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "chat_template.jinja").write_text(
        "{{ bos_token }}|{{ eos_token }}|{{ messages[0]['content'] }}"
    )
    copied = load_template("chat", folder)
    [text] = copied.conversation("", [("Q", "A")])
    assert text == f"{tok.bos_token or ''}|{tok.eos_token}|Q"


def test_chat_template_needs_no_transformers():
    import subprocess
    import sys

    code = (
        "import sys; from mosaicit.render.templates import load_template; "
        "from mosaicit.run.assemble import counter_for; "
        f"t = load_template('chat', {str(TOKENIZERS / 'qwen3')!r}); t.texts('Q', 'A', 'S'); "
        f"counter_for('chat', {str(TOKENIZERS / 'qwen3')!r}).count('Q'); "
        "print('transformers' in sys.modules, 'torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout's code
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.split() == ["False", "False"]
