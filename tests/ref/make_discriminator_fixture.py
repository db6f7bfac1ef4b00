"""Makes tests/ref/fixtures/discriminator.safetensors: the discriminator trained by PyTorch.

For each case (an MLP with standardisation and batches that do not divide the set, and a
linear discriminator on raw features with one batch per epoch) the script draws data and
initial weights with numpy, trains torch.nn layers in float64 with torch.optim.Adam exactly as
compute/discriminator.c's fit does (the same row order: the engine's xoshiro256** generator and
Fisher-Yates shuffle are replicated below), and stores what the C test compares: the trained
weights, the last epoch's mean loss, and on held-out rows the logits, mean loss and the input
gradient of the generator's loss. Seeded; reruns are byte-identical:

    .venv-ref/bin/python tests/ref/make_discriminator_fixture.py
"""

import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "discriminator.safetensors")
MIN_STD = np.float32(1e-6)  # compute/discriminator.c
MASK = (1 << 64) - 1

# hidden 0 is the linear discriminator; rows train, test_rows held out; target for input_grad
CASES = [
    dict(name="mlp", hidden=16, standardize=1, lr=1e-2, eps=1e-3, epochs=3, batch=16,
         features=12, rows=50, test_rows=20, fit_seed=11, target=1),
    dict(name="linear", hidden=0, standardize=0, lr=2e-2, eps=1e-3, epochs=4, batch=64,
         features=9, rows=40, test_rows=15, fit_seed=12, target=0),
]


class Xoshiro:
    """compute/rng.c: xoshiro256** seeded through splitmix64."""

    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result


def epoch_order(rng, n):
    """discriminator.c's shuffle: Fisher-Yates from the identity."""
    rows = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.next() % (i + 1)
        rows[i], rows[j] = rows[j], rows[i]
    return rows


def make_data(gen, n, features):
    """Two overlapping Gaussian classes with different per-feature scales and offsets."""
    labels = gen.integers(0, 2, n).astype(np.int32)
    scale = np.exp(gen.uniform(-1.5, 1.5, features))
    offset = gen.normal(0, 3, features)
    direction = gen.normal(0, 1, features)
    x = gen.normal(0, 1, (n, features)) + np.outer(2.0 * labels - 1.0, direction)
    return (x * scale + offset).astype(np.float32), labels


def linear_init(gen, out, inp):
    bound = 1 / np.sqrt(inp)
    weight = gen.uniform(-bound, bound, (out, inp)).astype(np.float32)
    bias = gen.uniform(-bound, bound, out).astype(np.float32)
    return weight, bias


def run_case(c, gen):
    n, nf, h = c["rows"], c["features"], c["hidden"]
    x_all, y_all = make_data(gen, n + c["test_rows"], nf)
    x_train, y_train, x_test = x_all[:n], y_all[:n], x_all[n:]
    layers = [linear_init(gen, h, nf), linear_init(gen, 2, h)] if h else [linear_init(gen, 2, nf)]
    init = np.concatenate([a.ravel() for layer in layers for a in layer])

    modules = [torch.nn.Linear(layer[0].shape[1], layer[0].shape[0]).double() for layer in layers]
    with torch.no_grad():
        for module, (weight, bias) in zip(modules, layers):
            module.weight.copy_(torch.from_numpy(weight.astype(np.float64)))
            module.bias.copy_(torch.from_numpy(bias.astype(np.float64)))
    params = [p for m in modules for p in (m.weight, m.bias)]
    smallest_preactivation = [np.inf]

    def net(x):
        if not h:
            return modules[0](x)
        pre = modules[0](x)
        smallest_preactivation[0] = min(smallest_preactivation[0], pre.abs().min().item())
        return modules[1](torch.relu(pre))

    xt = torch.from_numpy(x_train.astype(np.float64))
    if c["standardize"]:  # population std; near-constant features only centred
        mean = xt.mean(0)
        std = ((xt - mean) ** 2).mean(0).sqrt()
        inv_std = torch.where(std > MIN_STD, 1 / std, torch.ones_like(std))
    else:
        mean, inv_std = torch.zeros(nf, dtype=torch.float64), torch.ones(nf, dtype=torch.float64)

    def standardized(x):
        return (x - mean) * inv_std

    opt = torch.optim.Adam(params, lr=c["lr"], betas=(0.9, 0.999), eps=c["eps"])
    rng = Xoshiro(c["fit_seed"])
    labels = torch.from_numpy(y_train.astype(np.int64))
    for _ in range(c["epochs"]):
        order = torch.tensor(epoch_order(rng, n))
        epoch_losses = []
        for start in range(0, n, c["batch"]):
            rows = order[start:start + c["batch"]]
            losses = F.cross_entropy(net(standardized(xt[rows])), labels[rows], reduction="none")
            epoch_losses.append(losses.detach())
            opt.zero_grad()
            losses.mean().backward()
            opt.step()
    last_epoch_loss = torch.cat(epoch_losses).mean().item()

    x_held = torch.from_numpy(x_test.astype(np.float64)).requires_grad_(True)
    logits = net(standardized(x_held))
    y_test = y_all[n:]
    test_loss = F.cross_entropy(logits, torch.from_numpy(y_test.astype(np.int64))).item()
    target = torch.full((len(x_test),), c["target"], dtype=torch.int64)
    gen_loss = F.cross_entropy(logits, target)
    (input_grad,) = torch.autograd.grad(gen_loss, x_held)
    if h:  # a ReLU input this close to 0 could switch sides in float32
        assert smallest_preactivation[0] > 1e-5, smallest_preactivation[0]

    def f32(a):
        return torch.as_tensor(np.asarray(a, dtype=np.float32)).contiguous()

    trained = torch.cat([p.detach().reshape(-1) for p in params])
    name = c["name"]
    return {
        # features, rows, held-out rows, hidden, standardize, epochs, batch, fit seed, target
        f"{name}.config": torch.tensor([nf, n, c["test_rows"], h, c["standardize"], c["epochs"],
                                        c["batch"], c["fit_seed"], c["target"]],
                                       dtype=torch.int32),
        f"{name}.adam": f32([c["lr"], c["eps"]]),  # lr, eps
        f"{name}.x_train": f32(x_train),
        f"{name}.y_train": torch.from_numpy(y_train).contiguous(),
        f"{name}.x_test": f32(x_test),
        f"{name}.y_test": torch.from_numpy(y_test).contiguous(),
        f"{name}.init": f32(init),
        f"{name}.trained": f32(trained.numpy()),
        f"{name}.last_epoch_loss": f32([last_epoch_loss]),
        f"{name}.test_logits": f32(logits.detach().numpy()),
        f"{name}.test_loss": f32([test_loss]),
        f"{name}.gen_loss": f32([gen_loss.item()]),
        f"{name}.input_grad": f32(input_grad.numpy()),
    }


def main():
    gen = np.random.default_rng(2024)
    tensors = {}
    for case in CASES:
        tensors.update(run_case(case, gen))
    save_file(tensors, FIXTURE)
    print(f"wrote {FIXTURE} ({os.path.getsize(FIXTURE)} bytes)")


if __name__ == "__main__":
    main()
