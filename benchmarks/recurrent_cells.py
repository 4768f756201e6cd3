"""PyTorch's recurrent cells on this machine: one forward and backward pass of a bidirectional GRU
and LSTM over a batch of 16 texts of 256 tokens (384-dimensional embeddings, MiniLM's width),
packed as the `bigru` strategy packs them, and unpacked. Prints the best of 3 in seconds, and the
GRU ÷ LSTM ratio measured side by side.

    python benchmarks/recurrent_cells.py
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def best_of_three(cell: type[nn.Module], hidden: int, packed: bool) -> float:
    rnn = cell(384, hidden, batch_first=True, bidirectional=True)
    inputs = torch.randn(16, 256, 384, requires_grad=True)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        if packed:
            lengths = torch.full((16,), 256)
            states, _ = rnn(pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False))
            states, _ = pad_packed_sequence(states, batch_first=True)
        else:
            states, _ = rnn(inputs)
        states.sum().backward()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| hidden | packed | GRU s | LSTM s | GRU ÷ LSTM |\n| --- | --- | --- | --- | --- |")
    for hidden in (128, 256):
        for packed in (True, False):
            gru, lstm = best_of_three(nn.GRU, hidden, packed), best_of_three(nn.LSTM, hidden, packed)
            print(f"| {hidden} | {'yes' if packed else 'no'} | {gru:.3f} | {lstm:.3f} | ×{gru / lstm:.1f} |")


if __name__ == "__main__":
    main()
