#!/usr/bin/env python3
"""Record llama.cpp's token ids for varied strings, one JSON file per model.

Also records llama.cpp's greedy continuation of a short prompt per model, so
the decoders can be checked against the reference engine.

The Rust test `tokenizer_matches_llama_cpp` compares cairn-llm's GGUF-built
tokenizers against these ids. Regenerate after changing the strings:

    pip install llama-cpp-python      # builds llama.cpp from source (needs cmake)
    python3 crates/llm/tests/data/make_reference_tokens.py ~/.cache/cairn/models

Tokenizing loads only the vocabulary; the greedy runs load the weights
(a few seconds per model).
"""
import json
import sys
from pathlib import Path

import llama_cpp

MODELS = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "gemma-3-270m-q4_k_m.gguf",
]

# Plain text: special-token spellings must stay text (parse_special = false).
PLAIN = [
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "multiple    spaces   between words",
    "tabs\tand\ttabs",
    "new\nline",
    "double\n\nnewline",
    "\n\n\n",
    "mixed \n \t whitespace \r\n windows line",
    "12345",
    "3.14159 and 2,718 and 1000000",
    "Version 1.2.3-beta+build.45",
    "I'm sure they can't, won't; they'll, we've, you'd. IT'S LOUD",
    "UPPER lower MiXeD camelCase snake_case",
    "naïve café résumé",
    "Ελληνικά και русский текст",
    "日本語のテキストです。",
    "中文分词测试：你好，世界！",
    "한국어 문장입니다",
    "emoji 😀🎉👍🏽 family 👨‍👩‍👧‍👦",
    "math ∑∫√∞ ≠ ≤ ≥",
    'fn main() {\n    println!("hi");\n}\n',
    "def f(x):\n\treturn x**2  # square\n",
    "<|im_start|>user\nnot special here<|im_end|>",
    "<start_of_turn>model\n<end_of_turn>",
    "<|eot_id|><|begin_of_text|><bos><eos>",
    "[1] cite [2, 3] markers",
    "https://example.com/path?q=1&r=2#frag",
    "user@example.org",
    "SELECT * FROM table WHERE id = 42;",
    '<html><body class="x">Text</body></html>',
    " " * 50,
    "a\u00a0non-breaking\u2009thin space",
    "zero\u200bwidth",
    "Ünïcödé ÀÉÎÕÜ ß ẞ",
    "العربية نص",
    "हिन्दी पाठ",
    "x",
    "0xDEADBEEF 1e-9 -42 +7",
    "The Cairn engine retrieves passages from your files and answers questions with citations, "
    "so that every claim can be checked against page 12 of the manual.",
]

# Template text: control-token spellings are the control tokens (parse_special = true).
SPECIAL = [
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nBe brief.\n\nHi?<end_of_turn>\n<start_of_turn>model\n",
    "<|endoftext|>text after eos",
]

# Raw prompt (BOS added when the model wants it) and number of greedy tokens.
GREEDY_PROMPT = "The days of the week are Monday, Tuesday,"
GREEDY_TOKENS = 8


def greedy(path: Path) -> dict:
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, logits_all=False, verbose=False)
    ids = llm.tokenize(GREEDY_PROMPT.encode("utf-8"), add_bos=True, special=False)
    llm.eval(ids)
    out, margins = [], []
    for _ in range(GREEDY_TOKENS):
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()
        top2 = np.argsort(-logits)[:2]
        out.append(int(top2[0]))
        # A near tie can flip under another engine's rounding; the test stops comparing there.
        margins.append(round(float(logits[top2[0]] - logits[top2[1]]), 4))
        llm.eval([int(top2[0])])
    return {"prompt": GREEDY_PROMPT, "prompt_ids": ids, "ids": out, "margins": margins}


def main() -> None:
    models_dir = Path(sys.argv[1]).expanduser() if len(sys.argv) > 1 else Path.home() / ".cache/cairn/models"
    out_dir = Path(__file__).parent / "reference_tokens"
    out_dir.mkdir(exist_ok=True)
    for name in MODELS:
        path = models_dir / name
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        cases = []
        for special, texts in ((False, PLAIN), (True, SPECIAL)):
            for text in texts:
                ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
                cases.append({"text": text, "special": special, "ids": ids})
        record = {
            "model": name,
            "generator": f"llama-cpp-python {llama_cpp.__version__}",
            "cases": cases,
            "greedy": greedy(path),
        }
        out = out_dir / (Path(name).stem + ".json")
        out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
