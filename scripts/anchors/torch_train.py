#!/usr/bin/env python3
"""PyTorch anchor for `scripts/bench-train.sh`: the networks of
`crates/train/examples/bench_step.rs`, timed the same way (forward, backward, Adam step on a
fixed set of random batches, after 3 warm-up steps), on CPU.

Prints one JSON line per network, with the same fields as the Rust benchmark.
Usage: torch_train.py [steps] [batch]
"""

import json
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

NUMERIC = 24
CATEGORICAL = [12, 300, 50_000]
MAX_ROWS = 4096
CHARS_LEN = 64
CHARS_VOCAB = 41


def bucket(codes, rows):
    """Codes past the table hashed into rows 1.., as `pdnsrep_model::bucket` does (the same
    cost, not the same buckets)."""
    hashed = 1 + torch.remainder(codes * 2654435761, rows - 1)
    return torch.where(codes < rows, codes, hashed)


class Net(nn.Module):
    def __init__(self, chars, gru=False):
        super().__init__()
        self.rows = [min(c, MAX_ROWS) for c in CATEGORICAL]
        self.embeddings = nn.ModuleList(nn.Embedding(r, 8) for r in self.rows)
        width = NUMERIC + 8 * len(self.rows)
        self.chars = chars
        self.gru = None
        if chars:
            self.char_embedding = nn.Embedding(CHARS_VOCAB, 16)
        if chars and gru:
            self.gru = nn.GRU(16, 64, batch_first=True)
            width += 64
        elif chars:
            self.convs = nn.ModuleList(
                nn.Conv1d(16, 64, k, padding="same") for k in (3, 5)
            )
            width += 64 * 2
        self.hidden = nn.ModuleList([nn.Linear(width, 256), nn.Linear(256, 256)])
        self.output = nn.Linear(256, 3)
        self.dropout = nn.Dropout(0.1)

    def forward(self, numeric, categorical, chars):
        parts = [numeric]
        for j, emb in enumerate(self.embeddings):
            parts.append(emb(bucket(categorical[:, j], self.rows[j])))
        if self.gru is not None:
            states, _ = self.gru(self.char_embedding(chars.to(torch.int64)))
            parts.append(self.dropout(states.amax(dim=1)))
        elif self.chars:
            x = self.char_embedding(chars.to(torch.int64)).transpose(1, 2)
            parts.append(
                self.dropout(torch.cat([F.relu(c(x)).amax(dim=2) for c in self.convs], 1))
            )
        x = torch.cat(parts, 1)
        for layer in self.hidden:
            x = self.dropout(F.relu(layer(x)))
        return self.output(x)


def batches(batch, n=4):
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        numeric = torch.rand(batch, NUMERIC, generator=g) - 0.5
        categorical = torch.stack(
            [torch.randint(0, c, (batch,), generator=g) for c in CATEGORICAL], 1
        )
        chars = torch.randint(0, CHARS_VOCAB, (batch, CHARS_LEN), generator=g)
        labels = torch.randint(0, 3, (batch,), generator=g)
        out.append((numeric, categorical, chars, labels))
    return out


def bench(name, chars, steps, batch, gru=False):
    torch.manual_seed(0)
    model = Net(chars, gru)
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = batches(batch)
    warmup = 3
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        numeric, categorical, chars_, labels = data[step % len(data)]
        optim.zero_grad()
        loss = F.cross_entropy(model(numeric, categorical, chars_), labels)
        loss.backward()
        optim.step()
        loss.item()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": "pytorch-cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "network": name,
        "batch": batch,
        "steps": steps,
        "samples_per_s": steps * batch / seconds,
    }))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    bench("mlp2", False, steps, batch)
    bench("mlp2-chars", True, (steps + 3) // 4, batch)
    bench("mlp2-gru", True, (steps + 7) // 8, batch, gru=True)


if __name__ == "__main__":
    main()
