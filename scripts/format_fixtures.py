"""Rewrites an installed CTranslate2 Whisper model in the other common weight formats, for
speech/tests/formats.rs (driven by scripts/format-fixtures.sh).

  format_fixtures.py pt CT2_DIR OUT.pt
      openai-whisper's checkpoint layout: torch.save({"dims": {...}, "model_state_dict": {...}})
      with openai's parameter names (encoder.blocks.N.attn.query.weight, ...) in float16.
  format_fixtures.py hf OPENAI.pt TOKENIZER_DIR OUT_DIR
      a Hugging Face transformers directory (config.json, generation_config.json,
      model.safetensors, tokenizer.json) with transformers' names, as transformers'
      convert_openai_to_hf.py writes it; TOKENIZER_DIR is the CTranslate2 model the .pt came from
      (its tokenizer.json and config.json: suppression lists, alignment heads, language ids).
"""

import json
import shutil
import struct
import sys
from pathlib import Path

import torch

# CTranslate2 dtype ids (ctranslate2/specs/model_spec.py)
CT2_DTYPES = {0: torch.float32, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.float16, 5: torch.bfloat16}


def read_ct2(path):
    """The variables of a CTranslate2 model.bin (binary version 4..6) by name."""
    data = Path(path).read_bytes()
    pos = 0

    def take(n):
        nonlocal pos
        b = data[pos : pos + n]
        if len(b) != n:
            raise ValueError(f"{path} is truncated at offset {pos}")
        pos += n
        return b

    def u(fmt):
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0]

    def string():
        return take(u("H")).split(b"\0")[0].decode()

    version = u("I")
    if not 4 <= version <= 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported here")
    string(), u("I")  # spec name, revision
    out = {}
    for _ in range(u("I")):
        name = string()
        shape = [u("I") for _ in range(u("B"))]
        dtype = CT2_DTYPES[u("B")]
        raw = bytearray(take(u("I")))
        out[name] = torch.frombuffer(raw, dtype=dtype).reshape(shape) if raw else torch.zeros(shape, dtype=dtype)
    for _ in range(u("I")):
        alias, target = string(), string()
        out[alias] = out[target]
    for name, t in out.items():
        if name + "_scale" in out:
            raise ValueError(f"{path}: {name} is quantised; start from a float model")
    return out


def openai_state_dict(v):
    """CTranslate2's Whisper names (fused q/k/v) to openai-whisper's (model.py)."""
    sd = {}

    def put(name, t):
        sd[name] = t.to(torch.float16).contiguous()

    def linear(openai, ct2, bias=True):
        put(f"{openai}.weight", v[f"{ct2}/weight"])
        if bias:
            put(f"{openai}.bias", v[f"{ct2}/bias"])

    def norm(openai, ct2):
        put(f"{openai}.weight", v[f"{ct2}/gamma"])
        put(f"{openai}.bias", v[f"{ct2}/beta"])

    def split(ct2, names, prefix):
        ws = v[f"{ct2}/weight"].chunk(len(names))
        bs = v[f"{ct2}/bias"].chunk(len(names))
        for n, w, b in zip(names, ws, bs):
            put(f"{prefix}.{n}.weight", w)
            if n != "key":  # openai's key projection has no bias (CTranslate2 stores zeros)
                put(f"{prefix}.{n}.bias", b)

    for c in ["conv1", "conv2"]:
        linear(f"encoder.{c}", f"encoder/{c}")
    put("encoder.positional_embedding", v["encoder/position_encodings/encodings"])
    norm("encoder.ln_post", "encoder/layer_norm")
    put("decoder.token_embedding.weight", v["decoder/embeddings/weight"])
    put("decoder.positional_embedding", v["decoder/position_encodings/encodings"])
    norm("decoder.ln", "decoder/layer_norm")
    for side in ["encoder", "decoder"]:
        i = 0
        while f"{side}/layer_{i}/ffn/linear_0/weight" in v:
            o, c = f"{side}.blocks.{i}", f"{side}/layer_{i}"
            split(f"{c}/self_attention/linear_0", ["query", "key", "value"], f"{o}.attn")
            linear(f"{o}.attn.out", f"{c}/self_attention/linear_1")
            norm(f"{o}.attn_ln", f"{c}/self_attention/layer_norm")
            if side == "decoder":
                linear(f"{o}.cross_attn.query", f"{c}/attention/linear_0")
                split(f"{c}/attention/linear_1", ["key", "value"], f"{o}.cross_attn")
                linear(f"{o}.cross_attn.out", f"{c}/attention/linear_2")
                norm(f"{o}.cross_attn_ln", f"{c}/attention/layer_norm")
            linear(f"{o}.mlp.0", f"{c}/ffn/linear_0")
            linear(f"{o}.mlp.2", f"{c}/ffn/linear_1")
            norm(f"{o}.mlp_ln", f"{c}/ffn/layer_norm")
            i += 1
    return sd


def dims_of(sd, v):
    def layers(side):
        return len({k.split(".")[2] for k in sd if k.startswith(f"{side}.blocks.")})

    n_audio_state = sd["encoder.conv1.weight"].shape[0]
    n_text_state = sd["decoder.token_embedding.weight"].shape[1]
    heads = lambda side, d: int(v[f"{side}/num_heads"]) if f"{side}/num_heads" in v else d // 64
    return {
        "n_mels": sd["encoder.conv1.weight"].shape[1],
        "n_vocab": sd["decoder.token_embedding.weight"].shape[0],
        "n_audio_ctx": sd["encoder.positional_embedding"].shape[0],
        "n_audio_state": n_audio_state,
        "n_audio_head": heads("encoder", n_audio_state),
        "n_audio_layer": layers("encoder"),
        "n_text_ctx": sd["decoder.positional_embedding"].shape[0],
        "n_text_state": n_text_state,
        "n_text_head": heads("decoder", n_text_state),
        "n_text_layer": layers("decoder"),
    }


def write_pt(ct2_dir, out):
    v = read_ct2(Path(ct2_dir) / "model.bin")
    sd = openai_state_dict(v)
    torch.save({"dims": dims_of(sd, v), "model_state_dict": sd}, out)


def hf_state_dict(sd):
    """openai-whisper names to transformers' (as transformers' convert_openai_to_hf.py renames)."""
    renames = [
        (".blocks.", ".layers."),
        (".mlp.0", ".fc1"),
        (".mlp.2", ".fc2"),
        (".mlp_ln", ".final_layer_norm"),
        (".attn_ln", ".self_attn_layer_norm"),
        (".cross_attn_ln", ".encoder_attn_layer_norm"),
        (".cross_attn.", ".encoder_attn."),
        (".attn.", ".self_attn."),
        (".query.", ".q_proj."),
        (".key.", ".k_proj."),
        (".value.", ".v_proj."),
        (".out.", ".out_proj."),
        ("encoder.ln_post", "encoder.layer_norm"),
        ("decoder.ln.", "decoder.layer_norm."),
        ("encoder.positional_embedding", "encoder.embed_positions.weight"),
        ("decoder.positional_embedding", "decoder.embed_positions.weight"),
        ("decoder.token_embedding", "decoder.embed_tokens"),
    ]
    out = {}
    for name, t in sd.items():
        for a, b in renames:
            name = name.replace(a, b)
        out["model." + name] = t
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]
    return out


def write_hf(pt, tokenizer_dir, out):
    from safetensors.torch import save_file

    ckpt = torch.load(pt, map_location="cpu")
    dims, sd = ckpt["dims"], ckpt["model_state_dict"]
    tokenizer_dir, out = Path(tokenizer_dir), Path(out)
    ct2_config = json.loads((tokenizer_dir / "config.json").read_text())
    vocab = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    token = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    multilingual = dims["n_vocab"] >= 51865
    eot, sot = token["<|endoftext|>"], token["<|startoftranscript|>"]
    out.mkdir(parents=True, exist_ok=True)
    tensors = hf_state_dict(sd)
    # proj_out shares the embedding (tied weights): safetensors stores it once.
    del tensors["proj_out.weight"]
    save_file({k: t.contiguous() for k, t in tensors.items()}, out / "model.safetensors", metadata={"format": "pt"})
    suppress = ct2_config["suppress_ids"]
    begin = ct2_config.get("suppress_ids_begin", [220, eot])
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu",
        "vocab_size": dims["n_vocab"],
        "num_mel_bins": dims["n_mels"],
        "d_model": dims["n_audio_state"],
        "encoder_layers": dims["n_audio_layer"],
        "encoder_attention_heads": dims["n_audio_head"],
        "encoder_ffn_dim": 4 * dims["n_audio_state"],
        "decoder_layers": dims["n_text_layer"],
        "decoder_attention_heads": dims["n_text_head"],
        "decoder_ffn_dim": 4 * dims["n_text_state"],
        "num_hidden_layers": dims["n_audio_layer"],
        "max_source_positions": dims["n_audio_ctx"],
        "max_target_positions": dims["n_text_ctx"],
        "max_length": dims["n_text_ctx"],
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "is_encoder_decoder": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "suppress_tokens": suppress,
        "begin_suppress_tokens": begin,
        "torch_dtype": "float16",
        "use_cache": True,
    }
    generation = {
        "alignment_heads": ct2_config["alignment_heads"],
        "begin_suppress_tokens": begin,
        "suppress_tokens": suppress,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "max_length": dims["n_text_ctx"],
        "no_timestamps_token_id": token["<|notimestamps|>"],
        "is_multilingual": multilingual,
    }
    if multilingual:
        generation["lang_to_id"] = {vocab_token: i for vocab_token, i in token.items() if i in ct2_config["lang_ids"]}
        generation["task_to_id"] = {"transcribe": token["<|transcribe|>"], "translate": token["<|translate|>"]}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "WhisperTokenizer"}, indent=2))
    shutil.copy(tokenizer_dir / "tokenizer.json", out / "tokenizer.json")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pt":
        write_pt(*args)
    elif cmd == "hf":
        write_hf(*args)
    else:
        sys.exit(f"unknown command {cmd} (pt or hf)")
