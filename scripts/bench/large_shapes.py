"""large-v3 and large-v3-turbo shapes without their weights (driven by large-shapes.sh).

  large_shapes.py tokenizer OUT_DIR
      OUT_DIR/tokenizer.json for the v3 vocabulary (51866 tokens, 100 languages, <|yue|> = 50358):
      openai-whisper's multilingual.tiktoken (PyPI openai-whisper, see large-shapes.sh) read by
      its own tokenizer module and converted by transformers' tiktoken conversion.
  large_shapes.py build NAME TOKENIZER_DIR OUT_DIR
      a transformers WhisperForConditionalGeneration of NAME's shape (large-v3 or
      large-v3-turbo) with random weights (seed 0), saved in float16 with the tokenizer.
  large_shapes.py fw NAME CT2_DIR AUDIO OUT_DIR N
      faster-whisper (CPU, float32, 2 threads): OUT_DIR/mel.f32, OUT_DIR/encoder.f32 and N
      greedy tokens; prints one JSON line.
  large_shapes.py suppress CT2_DIR
      the ids both sides mask while decoding: every special token but <|endoftext|>.
  large_shapes.py report RESULTS_DIR NAME...
      compares ours with faster-whisper, prints the table; exit 1 on a failed check.
"""

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# >>> models: the text from here to "<<< models" versions the tokenizer and models made
SHAPES = {
    # d_model 1280, 20 heads, 32 encoder layers, 128 mel bins, vocabulary 51866: large-v3.
    "large-v3": {"decoder_layers": 32},
    # turbo: the same encoder, 4 decoder layers.
    "large-v3-turbo": {"decoder_layers": 4},
}
N_VOCAB = 51866
N_MELS = 128
PROMPT = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
MIN_COSINE = 0.999


def whisper_tokenizer_module():
    """openai-whisper's whisper/tokenizer.py alone (the package's __init__ needs numba)."""
    pkg = importlib.util.find_spec("whisper").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("openai_whisper_tokenizer", os.path.join(pkg, "tokenizer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tokenizer(out):
    from tokenizers import Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    wt = whisper_tokenizer_module()
    enc = wt.get_encoding("multilingual", num_languages=100)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # transformers' convert_tiktoken_to_fast, minus its re-dump of the ranks (which needs
    # blobfile): the shipped file is read directly.
    ranks = os.path.join(os.path.dirname(wt.__file__), "assets", "multilingual.tiktoken")
    TikTokenConverter(vocab_file=ranks, pattern=enc._pat_str, additional_special_tokens=enc._special_tokens).converted().save(
        str(out / "tokenizer.json")
    )
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    # The ids must be openai-whisper's own: same vocabulary size, same special ids, same text ids.
    assert tok.get_vocab_size() == enc.n_vocab == N_VOCAB, (tok.get_vocab_size(), enc.n_vocab)
    for name, i in enc._special_tokens.items():
        assert tok.token_to_id(name) == i, (name, tok.token_to_id(name), i)
    assert tok.token_to_id("<|yue|>") == 50358 and tok.token_to_id("<|notimestamps|>") == 50364
    text = " And so, my fellow Americans: ask not what your country can do for you — 日本語, ¿qué?"
    assert tok.encode(text, add_special_tokens=False).ids == enc.encode(text), "tokenizer.json differs from tiktoken"
    (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "WhisperTokenizer"}, indent=2))
    non_speech = wt.get_tokenizer(multilingual=True, num_languages=100).non_speech_tokens
    (out / "non_speech.json").write_text(json.dumps(sorted(non_speech)))
    print(f"v3 tokenizer: {tok.get_vocab_size()} tokens, <|yue|> = {tok.token_to_id('<|yue|>')}", file=sys.stderr)


def build(name, tokenizer_dir, out):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tokenizer_dir, out = Path(tokenizer_dir), Path(out)
    vocab = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    token = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    eot, sot = token["<|endoftext|>"], token["<|startoftranscript|>"]
    suppress = json.loads((tokenizer_dir / "non_speech.json").read_text())
    layers = SHAPES[name]["decoder_layers"]
    config = WhisperConfig(
        vocab_size=N_VOCAB,
        num_mel_bins=N_MELS,
        d_model=1280,
        encoder_layers=32,
        encoder_attention_heads=20,
        encoder_ffn_dim=5120,
        decoder_layers=layers,
        decoder_attention_heads=20,
        decoder_ffn_dim=5120,
        max_source_positions=1500,
        max_target_positions=448,
        # transformers' normal(0, 0.02) init: with pre-norm blocks and d_model 1280 the residual
        # stream grows slowly over 32 layers and the logits spread about 0.7 (no ties to break).
        init_std=0.02,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=suppress,
        begin_suppress_tokens=[220, eot],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.half().save_pretrained(out, safe_serialization=True)
    del model
    # Written by hand as the hub's large-v3 has it: a generation config that save_pretrained
    # derives from the model config is ignored on load, and with it lang_to_id, so that the
    # converter would write no lang_ids.
    generation = {
        "alignment_heads": [[l, h] for l in range(layers // 2, layers) for h in range(20)],
        "begin_suppress_tokens": [220, eot],
        "suppress_tokens": suppress,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "max_length": 448,
        "no_timestamps_token_id": token["<|notimestamps|>"],
        "is_multilingual": True,
        "lang_to_id": {t: i for t, i in token.items() if sot < i < token["<|translate|>"]},
        "task_to_id": {"transcribe": token["<|transcribe|>"], "translate": token["<|translate|>"]},
    }
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (out / f).write_bytes((tokenizer_dir / f).read_bytes())
    # faster-whisper takes its feature size from here (80 without it).
    (out / "preprocessor_config.json").write_text(
        json.dumps({"feature_size": N_MELS, "hop_length": 160, "n_fft": 400, "sampling_rate": 16000, "chunk_length": 30})
    )


# <<< models


def suppress_ids(ct2_dir):
    vocab = json.loads((Path(ct2_dir) / "tokenizer.json").read_text())
    eot = next(t["id"] for t in vocab["added_tokens"] if t["content"] == "<|endoftext|>")
    return list(range(eot + 1, N_VOCAB))


def prompt_ids(ct2_dir):
    vocab = json.loads((Path(ct2_dir) / "tokenizer.json").read_text())
    token = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    return [token[t] for t in PROMPT]


def fw(name, ct2_dir, audio, out, n):
    import ctranslate2
    from faster_whisper import WhisperModel, decode_audio
    from faster_whisper.audio import pad_or_trim

    out, n = Path(out), int(n)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = WhisperModel(ct2_dir, device="cpu", compute_type="float32", cpu_threads=2, num_workers=1)
    load_s = time.perf_counter() - t0
    samples = decode_audio(audio, sampling_rate=16000)
    # As WhisperModel.transcribe cuts its first window: the last frame dropped, zeros to 3000.
    features = model.feature_extractor(samples)
    mel = pad_or_trim(features[:, : min(3000, features.shape[-1] - 1)]).astype(np.float32)
    mel.tofile(out / "mel.f32")
    encoded = model.encode(mel)
    np.asarray(encoded, dtype=np.float32)[0].tofile(out / "encoder.f32")
    prompt = prompt_ids(ct2_dir)
    res = model.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        # ctranslate2 4.8.5 gave max_length / 2 new tokens here (measured: 10 -> 5, 40 -> 20),
        # so the bound is generous and the first n are kept.
        max_length=2 * (n + len(prompt)),
        suppress_blank=False,
        suppress_tokens=suppress_ids(ct2_dir),
    )
    tokens = res[0].sequences_ids[0][:n]
    print(json.dumps({"load_s": load_s, "n_mels": int(mel.shape[0]), "tokens": tokens, "ctranslate2": ctranslate2.__version__}))


def peak_rss_mib(time_file):
    for line in Path(time_file).read_text().splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) / 1024
    return float("nan")


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def equal_prefix(a, b, n):
    """How many of the first n tokens agree (both must have them)."""
    k = 0
    while k < n and k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    return k


def report(results, names):
    results = Path(results)
    ok = True
    rows = []
    for name in names:
        d = results / name
        ours, ref = json.loads((d / "ours.json").read_text()), json.loads((d / "fw.json").read_text())
        n_mels = ours["n_mels"]
        ref_enc = np.fromfile(d / "fw" / "encoder.f32", dtype=np.float32)
        cos_e2e = cosine(np.fromfile(d / "ours" / "encoder.f32", dtype=np.float32), ref_enc)
        cos_shared = cosine(np.fromfile(d / "ours" / "encoder-shared.f32", dtype=np.float32), ref_enc)
        mel_ours = np.fromfile(d / "ours" / "mel.f32", dtype=np.float32).reshape(n_mels, 3000)
        mel_ref = np.fromfile(d / "fw" / "mel.f32", dtype=np.float32).reshape(n_mels, 3000)
        mel_diff = float(np.abs(mel_ours - mel_ref).max())
        n = len(ref["tokens"])
        tok_e2e = equal_prefix(ours["tokens"], ref["tokens"], 20)
        tok_shared = equal_prefix(ours["tokens_shared"], ref["tokens"], 20)
        want = min(20, n)
        good = (
            min(cos_e2e, cos_shared) >= MIN_COSINE
            and tok_shared == want
            and tok_e2e == want
            and len(ours["tokens_shared"][:20]) == want
            and len(ours["tokens"][:20]) == want
        )
        ok &= good
        rows.append(
            (
                name,
                f"{ours['n_mels']} / {ours['n_vocab']} / {ours['n_text_layer']}",
                f"{cos_e2e:.6f} (1-cos {1 - cos_e2e:.0e})",
                f"{cos_shared:.6f} (1-cos {1 - cos_shared:.0e})",
                f"{mel_diff:.2e}",
                f"{tok_e2e}/{want} · {tok_shared}/{want}",
                f"{ours['load_s']:.1f} / {ref['load_s']:.1f}",
                f"{peak_rss_mib(d / 'ours.time'):.0f} / {peak_rss_mib(d / 'fw.time'):.0f}",
                "ok" if good else "FAIL",
            )
        )
        print(f"{name}: ours {ours['tokens'][:20]}\n{name}: fw   {ref['tokens']}", file=sys.stderr)
    head = (
        "model",
        "mels / vocab / dec. layers",
        "encoder cos (own mel)",
        "encoder cos (shared mel)",
        "mel max abs diff",
        "tokens equal (own · shared mel)",
        "load s ours / fw",
        "peak RSS MiB ours / fw",
        "check",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    worker = results / "worker.time"
    if worker.is_file():
        wall = next(
            (l.rsplit(": ", 1)[1] for l in worker.read_text().splitlines() if "Elapsed (wall clock)" in l), "?"
        )
        lines.append("")
        lines.append(
            f"worker transcribe samples/jfk.flac --model large-v3 (random weights): exit 0, wall {wall}, "
            f"peak RSS {peak_rss_mib(worker):.0f} MiB"
        )
    text = "\n".join(lines)
    print(text)
    (results / "report.md").write_text(text + "\n")
    return ok


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tokenizer":
        write_tokenizer(*args)
    elif cmd == "build":
        build(*args)
    elif cmd == "fw":
        fw(*args)
    elif cmd == "suppress":
        print(",".join(map(str, suppress_ids(*args))))
    elif cmd == "report":
        sys.exit(0 if report(args[0], args[1:]) else 1)
    else:
        sys.exit(f"unknown command {cmd}")
