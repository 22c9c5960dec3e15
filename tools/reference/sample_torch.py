"""A PyTorch peer of blockdiff's samplers, for the end-to-end sampling benchmark: the same
algorithms on the same weights (a Hugging Face BD3-LM directory, config.json +
model.safetensors, as blockdiff writes it), timed with the wall clock.

It mirrors blockdiff's TypeScript samplers pass for pass (sampling/*.ts,
schedules/samplers/*.ts), in float32 (or float64) torch with plain matmul attention (torch 1.13
has no scaled_dot_product_attention):

  bd3lm, --kv-cache     every row is [BOS] + prompt; the prompt's full blocks are committed
                        in one block-causal pass that fills the cache (Dit.prefill; block by
                        block when they would fill the window), its tail opens the first
                        block. Per block of L' tokens, the first-hitting sampler reveals one
                        uniformly chosen masked position per row per call from p =
                        softmax(logits) with the mask token's probability zeroed (nucleus 1,
                        temperature 1); a call runs only the L' block tokens, attending
                        bidirectionally to the cached K/V of committed blocks and to itself.
                        A finished block is committed by one more pass with the clean block
                        (skipped after the last block). The cache holds W = model_length
                        positions: when a block would not fit, the oldest blocks are dropped
                        and the kept keys re-rotated to window-relative positions (as
                        blockdiff's KvCache and the reference do).
  bd3lm, --no-kv-cache  every call recomputes the last <= W tokens (starting on a committed
                        block boundary) plus the block with the block-causal mask and keeps the
                        block's rows; commits run no network pass.
  ar, --kv-cache        causal decoding through the same cache, one token per pass; the prompt
                        in one causal pass (token by token when it would fill the window), as
                        blockdiff's KvArModel; a full cache drops its oldest token.
  ar, --no-kv-cache     one causal pass over the last <= W tokens per generated token.
  mdlm                  one block of the whole row ([BOS] + prompt + N masks, at most
                        model_length tokens), bidirectional, T ancestral steps; a step that
                        changed nothing reuses the previous prediction (no network call).

No stop rules: every row generates exactly N tokens. Only the sampling run is timed (prompt
passes included, as in blockdiff's `generate`; model loading and one warm-up network call
excluded), wall clock, with torch.no_grad().

Matmuls (--matmul): Debian's python3-torch 1.13 links the generic libblas.so.3, which is the
reference BLAS (~2 GFLOP/s) unless OpenBLAS is installed. "auto" (the default) therefore runs
float32 CPU linear layers through oneDNN (torch.utils.mkldnn's inference path; 5-20x faster
there) and the attention products of whole windows per head the same way; "torch" keeps
F.linear / torch.matmul. The JSON names the choice and the BLAS library loaded.

  python3 tools/reference/sample_torch.py --model DIR [--algo bd3lm|mdlm|ar] [--block-size N]
      [--batch B] [--prompt-ids FILE] [--generate N] [--steps T] [--kv-cache|--no-kv-cache]
      [--device cpu|cuda] [--dtype float32|float64] [--threads N] [--seed S]
      [--bos-id ID] [--mask-id ID] [--matmul auto|torch|mkldnn]
  python3 tools/reference/sample_torch.py --self-check [--threads N]

Prints one JSON line: {"tokens_per_s", "seconds", "nfe", "generated", "device", "torch",
"threads", "dtype", "prefill_seconds", "matmul", "blas", "algo", "kv_cache", "batch",
"block_size", "prefix", "commits", "passes"}. tokens_per_s = generated / seconds, generated =
batch x N. NFE counts the calls that produce a prediction (blockdiff's definition: commit
passes and AR prompt passes after the first are not counted; "passes" counts every forward
pass); prefill_seconds is the part of `seconds` spent on the prompt's commit passes (AR: its
first call). On an error: one line on stderr, exit status 2.

--self-check checks, in float64 on a small random model, that a KV-cached denoising call gives
the logits of the uncached block-causal recompute (and of bd3lm_torch.py's independent port),
for BD3-LM and AR, that the cache's slide re-rotates kept keys correctly, that cached and
recomputing samplers draw the same tokens from one seed, and (float32) that the oneDNN path
matches torch's matmuls; it prints one JSON line and exits 1 when a check fails.
"""
import argparse
import json
import math
import os
import re
import sys
import time

# OpenMP threads sleep rather than spin while they wait (must be set before torch loads
# libgomp): with spinning, torch's small per-op parallel regions slow down ~10x as soon as
# another process wants a core. OMP_WAIT_POLICY=ACTIVE in the environment restores spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bd3lm_torch import read_safetensors  # noqa: E402

SIGMA_MAX = -math.log(1e-3)


class UsageError(Exception):
    pass


# ---------------------------------------------------------------- the backbone
def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


def torch_blas():
    """The BLAS torch was built against and the library loaded for it. Debian's python3-torch
    says "generic": whatever libblas.so.3 the alternatives system points to, the slow
    reference BLAS (.../blas/libblas.so.3) unless OpenBLAS (libopenblas0) is installed."""
    m = re.search(r"BLAS_INFO=([^,\s]*)", torch.__config__.show())
    info = m.group(1) if m else "unknown"
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if re.search(r"/lib(open)?blas|/libmkl_core", ln)}
        if libs:
            info += " (" + ", ".join(sorted(libs)) + ")"
    except OSError:
        pass
    return info


def default_matmul(device, dtype):
    """oneDNN (torch.utils.mkldnn's inference path) for float32 on the CPU when torch has it."""
    if device == "cpu" and dtype == torch.float32 and torch.backends.mkldnn.is_available():
        return "mkldnn"
    return "torch"


class Model:
    """The BD3-LM DiT (docs/design.md, "Backbone") in `dtype` on `device`, with a window
    pass (optional additive attention bias) and a KV-cached block pass.

    matmul: "torch" (F.linear / torch.matmul, i.e. torch's BLAS on the CPU) or "mkldnn" (every
    linear layer through torch._C._nn.mkldnn_linear with the weights kept as oneDNN tensors, as
    torch.utils.mkldnn.to_mkldnn does for inference, and the attention products of whole
    windows per head the same way; CPU float32 only)."""

    def __init__(self, cfg, w, dtype=torch.float32, device="cpu", matmul="torch"):
        self.cfg = cfg
        self.d, self.H = int(cfg["hidden_dim"]), int(cfg["n_heads"])
        self.D = self.d // self.H
        self.n_blocks, self.V = int(cfg["n_blocks"]), int(cfg["vocab_size"])
        self.L = int(cfg["model_length"])
        self.adaln = bool(cfg.get("adaln", True)) and not cfg.get("causal", False)
        self.time_cond = self.adaln and bool(cfg.get("time_conditioning", False))
        self.dtype, self.device = dtype, torch.device(device)
        self.w = {k: v.to(device=self.device, dtype=dtype) for k, v in w.items() if v.dim() > 0}
        need = ["backbone.vocab_embed.embedding", "backbone.output_layer.norm_final.weight",
                "backbone.output_layer.linear.weight", "backbone.output_layer.linear.bias"]
        for i in range(self.n_blocks):
            p = f"backbone.blocks.{i}."
            need += [p + k for k in ("norm1.weight", "attn_qkv.weight", "attn_out.weight",
                                     "norm2.weight", "mlp.0.weight", "mlp.0.bias",
                                     "mlp.2.weight", "mlp.2.bias")]
            if self.adaln:
                need += [p + "adaLN_modulation.weight", p + "adaLN_modulation.bias"]
        if self.adaln:
            need += ["backbone.sigma_map.mlp.0.weight", "backbone.sigma_map.mlp.0.bias",
                     "backbone.sigma_map.mlp.2.weight", "backbone.sigma_map.mlp.2.bias",
                     "backbone.output_layer.adaLN_modulation.weight",
                     "backbone.output_layer.adaLN_modulation.bias"]
        missing = [k for k in need if k not in self.w]
        if missing:
            raise UsageError(f"the weights lack {len(missing)} tensors, e.g. {missing[0]}")
        # inv_freq and p*inv_freq rounded to f32 as the reference computes them.
        self.inv = 1.0 / (10000 ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D))
        self.cos, self.sin = self.rotary(torch.arange(self.L))
        self.scale = 1.0 / math.sqrt(self.D)
        self._mods = {}
        if matmul not in ("torch", "mkldnn"):
            raise UsageError(f"unknown matmul backend {matmul}")
        if matmul == "mkldnn" and not (self.device.type == "cpu" and dtype == torch.float32
                                       and torch.backends.mkldnn.is_available()):
            raise UsageError("--matmul mkldnn needs the CPU, float32 and a torch built with oneDNN")
        self.matmul = matmul
        # oneDNN copies of every 2-D weight (the embedding table is only indexed), replacing
        # the dense ones.
        self.wm = {k: v.to_mkldnn() for k, v in self.w.items()
                   if matmul == "mkldnn" and k != "backbone.vocab_embed.embedding" and v.dim() == 2}
        for k in self.wm:
            del self.w[k]

    def linear(self, x, wkey, bkey=None):
        if self.matmul == "torch":
            return F.linear(x, self.w[wkey], self.w[bkey] if bkey else None)
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        # (x Wᵀ)ᵀ = W xᵀ: the weight goes in as oneDNN's input and the rows as its weight.
        # oneDNN reorders a plain-layout weight on every call, which for the few rows of a
        # cached block costs more than the product (up to 9x for the vocabulary projection);
        # a plain input is read as is. For whole windows both orders take the same time.
        y = torch._C._nn.mkldnn_linear(self.wm[wkey], x2.to_mkldnn(), None).to_dense().t()
        if bkey:
            y = y + self.w[bkey]
        return y.reshape(*shape[:-1], y.shape[-1])

    def rotary(self, positions):
        theta = positions.to(torch.float32)[:, None] * self.inv[None]
        theta = torch.cat([theta, theta], dim=-1).to(self.dtype)
        return torch.cos(theta).to(self.device), torch.sin(theta).to(self.device)

    def mods(self, batch, sigma):
        """Per-layer adaLN chunks (shift, scale, gate, shift, scale, gate) and the output
        layer's (shift, scale), each [B, 1, d]; None for a model without adaLN."""
        if not self.adaln:
            return None
        if not self.time_cond and batch in self._mods:
            return self._mods[batch]
        s = torch.zeros(batch, dtype=self.dtype, device=self.device)
        if self.time_cond and sigma is not None:
            s = s + sigma
        half = 128
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=self.dtype, device=self.device) / half)
        args = s[:, None] * freqs[None]
        e = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        h = F.silu(self.linear(e, "backbone.sigma_map.mlp.0.weight", "backbone.sigma_map.mlp.0.bias"))
        c = F.silu(self.linear(h, "backbone.sigma_map.mlp.2.weight", "backbone.sigma_map.mlp.2.bias"))
        layers = []
        for i in range(self.n_blocks):
            p = f"backbone.blocks.{i}."
            m = self.linear(c, p + "adaLN_modulation.weight", p + "adaLN_modulation.bias")
            layers.append([t[:, None] for t in m.chunk(6, dim=-1)])
        fm = self.linear(c, "backbone.output_layer.adaLN_modulation.weight",
                         "backbone.output_layer.adaLN_modulation.bias")
        out = (layers, [t[:, None] for t in fm.chunk(2, dim=-1)])
        if not self.time_cond:
            self._mods[batch] = out
        return out

    def _qkv(self, i, x, m, cos, sin):
        w, p = self.w, f"backbone.blocks.{i}."
        a = F.layer_norm(x, (self.d,), w[p + "norm1.weight"], None, 1e-5)
        if m is not None:
            a = a * (1 + m[0][i][1]) + m[0][i][0]
        qkv = self.linear(a, p + "attn_qkv.weight")
        B, n, _ = qkv.shape
        q, k, v = qkv.view(B, n, 3, self.H, self.D).unbind(2)  # [B, n, H, D]
        c, s = cos[:, None], sin[:, None]
        return (rotate(q, c, s).transpose(1, 2), rotate(k, c, s).transpose(1, 2),
                v.transpose(1, 2))  # [B, H, n, D]

    def _attend(self, q, k, v, bias):
        """Softmax attention of q [B, H, n, D] over k, v [B, H, S, D] (+ bias [n, S])."""
        B, _, n, _ = q.shape
        if self.matmul == "mkldnn" and n >= 64:
            # Whole windows: per-head oneDNN products beat a slow BLAS; a few query rows (a
            # cached block, an AR token) cost less through torch.matmul than per-head calls.
            return self._attend_mkldnn(q, k, v, bias)
        s = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if bias is not None:
            s = s + bias
        o = torch.matmul(torch.softmax(s, dim=-1), v)  # [B, H, n, D]
        return o.transpose(1, 2).reshape(B, n, self.d)

    def _attend_mkldnn(self, q, k, v, bias):
        """The same, one (row, head) at a time: scores = linear(q, K), out = linear(p, Vᵀ)."""
        B, H, n, D = q.shape
        o = torch.empty(B, n, H, D, dtype=q.dtype)
        lin = torch._C._nn.mkldnn_linear
        for b in range(B):
            for h in range(H):
                s = lin(q[b, h].contiguous().to_mkldnn(), k[b, h].contiguous().to_mkldnn(), None).to_dense()
                s = s * self.scale if bias is None else s * self.scale + bias
                p = torch.softmax(s, dim=-1)
                o[b, :, h] = lin(p.to_mkldnn(), v[b, h].t().contiguous().to_mkldnn(), None).to_dense()
        return o.view(B, n, self.d)

    def _finish(self, i, x, o, m):
        w, p = self.w, f"backbone.blocks.{i}."
        r = self.linear(o, p + "attn_out.weight")
        g = m[0][i] if m is not None else None
        x = x + (g[2] * r if g else r)
        u = F.layer_norm(x, (self.d,), w[p + "norm2.weight"], None, 1e-5)
        if g:
            u = u * (1 + g[4]) + g[3]
        h = F.gelu(self.linear(u, p + "mlp.0.weight", p + "mlp.0.bias"), approximate="tanh")
        h = self.linear(h, p + "mlp.2.weight", p + "mlp.2.bias")
        return x + (g[5] * h if g else h)

    def _output(self, x, m):
        w = self.w
        z = F.layer_norm(x, (self.d,), w["backbone.output_layer.norm_final.weight"], None, 1e-5)
        if m is not None:
            z = z * (1 + m[1][1]) + m[1][0]
        return self.linear(z, "backbone.output_layer.linear.weight", "backbone.output_layer.linear.bias")

    def forward(self, ids, bias=None, sigma=None, last=None):
        """Logits [B, S, V] of a window pass over ids [B, S] (positions 0..S-1; `bias` [S, S]
        is added to the attention scores, None = full attention). `last` keeps the last rows
        after computing all of them, as blockdiff's and the reference's recompute paths do."""
        B, S = ids.shape
        if S > self.L:
            raise UsageError(f"a window of {S} tokens exceeds the model length {self.L}")
        x = self.w["backbone.vocab_embed.embedding"][ids]
        m = self.mods(B, sigma)
        cos, sin = self.cos[:S], self.sin[:S]
        for i in range(self.n_blocks):
            q, k, v = self._qkv(i, x, m, cos, sin)
            x = self._finish(i, x, self._attend(q, k, v, bias), m)
        logits = self._output(x, m)
        return logits if last is None else logits[:, S - last:]

    def prefill(self, ids, cache, block_size, sigma=None, logits_rows=0):
        """A prompt [B, S] into empty caches in one block-causal pass (causal for block size
        1), committed as blocks of `block_size` (blockdiff's Dit.prefill); returns the logits
        of the last `logits_rows` positions (the head runs on those rows only), or None."""
        B, S = ids.shape
        if cache.p != 0 or S > cache.W or S % block_size:
            raise UsageError(f"prefill of {S} tokens needs an empty cache of >= {S} positions")
        bias = block_causal_bias([block_size] * (S // block_size), self.dtype, self.device)
        x = self.w["backbone.vocab_embed.embedding"][ids]
        m = self.mods(B, sigma)
        cos, sin = self.cos[:S], self.sin[:S]
        for i in range(self.n_blocks):
            q, k, v = self._qkv(i, x, m, cos, sin)
            cache.k[i][:, :, :S] = k
            cache.v[i][:, :, :S] = v
            x = self._finish(i, x, self._attend(q, k, v, bias), m)
        cache.p, cache.blocks = S, [block_size] * (S // block_size)
        return self._output(x[:, S - logits_rows:], m) if logits_rows else None

    def forward_cached(self, ids, cache, commit, sigma=None, logits=True):
        """A block [B, n] at cache positions p..p+n-1, attending to the committed K/V and to
        itself; `commit` keeps the block's K/V."""
        B, n = ids.shape
        p = cache.p
        if p + n > cache.W:
            raise UsageError(f"a block of {n} at position {p} exceeds the cache window {cache.W}")
        x = self.w["backbone.vocab_embed.embedding"][ids]
        m = self.mods(B, sigma)
        cos, sin = self.cos[p:p + n], self.sin[p:p + n]
        for i in range(self.n_blocks):
            q, k, v = self._qkv(i, x, m, cos, sin)
            cache.k[i][:, :, p:p + n] = k
            cache.v[i][:, :, p:p + n] = v
            o = self._attend(q, cache.k[i][:, :, :p + n], cache.v[i][:, :, :p + n], None)
            x = self._finish(i, x, o, m)
        if commit:
            cache.commit(n)
        return self._output(x, m) if logits else None


class KvCache:
    """Per-layer keys (post-rotary) and values [B, H, W, D] with committed length p and the
    sizes of the committed blocks (blockdiff's KvCache bookkeeping)."""

    def __init__(self, model, batch, window):
        self.model, self.W = model, window
        shape = (batch, model.H, window, model.D)
        kw = dict(dtype=model.dtype, device=model.device)
        self.k = [torch.zeros(shape, **kw) for _ in range(model.n_blocks)]
        self.v = [torch.zeros(shape, **kw) for _ in range(model.n_blocks)]
        self.reset()

    def reset(self):
        self.p, self.blocks = 0, []

    def make_room(self, n):
        if n > self.W:
            raise UsageError(f"a block of {n} exceeds the window {self.W}")
        drop = 0
        while self.p - drop + n > self.W:
            drop += self.blocks.pop(0)
        if drop:
            self.slide(drop)

    def commit(self, n):
        self.p += n
        self.blocks.append(n)
        drop = 0
        while self.p - drop >= self.W:
            drop += self.blocks.pop(0)
        if drop:
            self.slide(drop)

    def slide(self, shift):
        """Drops the oldest `shift` rows; the kept keys are re-rotated by -shift positions."""
        keep = self.p - shift
        if keep > 0:
            cos, sin = self.model.rotary(torch.tensor([-shift]))
            for i in range(len(self.k)):
                self.k[i][:, :, :keep] = rotate(self.k[i][:, :, shift:self.p].clone(), cos, sin)
                self.v[i][:, :, :keep] = self.v[i][:, :, shift:self.p].clone()
        self.p = max(keep, 0)


def sigma_of(model, t):
    if not model.time_cond:
        return None
    return SIGMA_MAX if t >= 1 else min(-math.log1p(-t), SIGMA_MAX)


# ---------------------------------------------------------------- denoisers (sampling/)
class KvBlockDenoiser:
    def __init__(self, model, batch):
        self.model, self.cache, self.passes = model, KvCache(model, batch, model.L), 0

    def reset(self):
        self.cache.reset()

    def denoise(self, block, t):
        self.cache.make_room(block.shape[1])
        self.passes += 1
        return self.model.forward_cached(block, self.cache, False, sigma_of(self.model, t))

    def commit(self, block):
        self.cache.make_room(block.shape[1])
        self.passes += 1
        self.model.forward_cached(block, self.cache, True, sigma_of(self.model, 0), logits=False)

    def commit_prompt(self, ids, chunk):
        """The prompt's full chunks in one pass, when the cache is empty and they leave room in
        the window (as blockdiff's KvBlockDenoiser.commitPrompt); else False."""
        n = ids.shape[1]
        if self.cache.p > 0 or n % chunk or n >= self.cache.W:
            return False
        self.passes += 1
        self.model.prefill(ids, self.cache, chunk, sigma_of(self.model, 0))
        return True


def block_causal_bias(sizes, dtype, device):
    bid = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    allowed = bid[None, :] <= bid[:, None]
    bias = torch.zeros(allowed.shape, dtype=dtype)
    return bias.masked_fill(~allowed, float("-inf")).to(device)


class WindowBlockDenoiser:
    def __init__(self, model, batch):
        self.model, self.batch, self.passes = model, batch, 0
        self.biases = {}
        self.reset()

    def reset(self):
        self.ctx = torch.zeros(self.batch, 0, dtype=torch.long, device=self.model.device)
        self.blocks = []

    def window_ids(self, block):
        n, total = block.shape[1], self.ctx.shape[1]
        if n > self.model.L:
            raise UsageError(f"a block of {n} exceeds the window {self.model.L}")
        start = first = 0
        while total - start + n > self.model.L:
            start += self.blocks[first]
            first += 1
        sizes = tuple(self.blocks[first:]) + (n,)
        return torch.cat([self.ctx[:, start:], block], dim=1), sizes

    def denoise(self, block, t):
        ids, sizes = self.window_ids(block)
        bias = self.biases.get(sizes)
        if bias is None:
            if len(self.biases) > 16:
                self.biases.clear()
            bias = self.biases[sizes] = block_causal_bias(sizes, self.model.dtype, self.model.device)
        self.passes += 1
        return self.model.forward(ids, bias, sigma_of(self.model, t), last=block.shape[1])

    def commit(self, block):
        self.ctx = torch.cat([self.ctx, block], dim=1)
        self.blocks.append(block.shape[1])


class FullDenoiser:
    def __init__(self, model, batch):
        self.model, self.passes = model, 0

    def reset(self):
        pass

    def denoise(self, block, t):
        self.passes += 1
        return self.model.forward(block, None, sigma_of(self.model, t))

    def commit(self, block):
        pass


class KvArModel:
    def __init__(self, model, batch):
        self.model, self.cache, self.passes = model, KvCache(model, batch, model.L), 0

    def reset(self):
        self.cache.reset()

    def append(self, tokens):
        n = tokens.shape[1]
        if n > 1 and self.cache.p == 0 and n < self.cache.W:
            # A prompt into an empty cache: one causal pass fills every layer (Dit.prefill).
            self.passes += 1
            return self.model.prefill(tokens, self.cache, 1, logits_rows=1)[:, -1]
        out = None
        for j in range(n):
            self.passes += 1
            out = self.model.forward_cached(tokens[:, j:j + 1], self.cache, True, logits=j == n - 1)
        return out[:, -1]


class WindowArModel:
    def __init__(self, model, batch):
        self.model, self.batch, self.passes = model, batch, 0
        L = model.L
        causal = torch.ones(L, L, dtype=torch.bool).tril()
        self.bias = torch.zeros(L, L, dtype=model.dtype).masked_fill(~causal, float("-inf")).to(model.device)
        self.reset()

    def reset(self):
        self.ctx = torch.zeros(self.batch, 0, dtype=torch.long, device=self.model.device)

    def append(self, tokens):
        self.ctx = torch.cat([self.ctx, tokens], dim=1)
        S = min(self.ctx.shape[1], self.model.L)
        self.passes += 1
        return self.model.forward(self.ctx[:, -S:], self.bias[:S, :S], last=1)[:, -1]


# ---------------------------------------------------------------- samplers (schedules/samplers)
def draw(logits, mask_id, gen):
    """One token per row of logits [R, V] from softmax with the mask token excluded."""
    lg = logits.clone()
    lg[:, mask_id] = float("-inf")
    return torch.multinomial(torch.softmax(lg, dim=-1), 1, generator=gen)[:, 0]


def first_hitting(den, block, mask_id, gen):
    """Per row, one uniformly chosen masked position per call; returns the calls made."""
    B, n = block.shape
    rows = torch.arange(B, device=block.device)
    calls = int((block == mask_id).sum(1).max())
    for _ in range(calls):
        logits = den.denoise(block, 1.0)
        masked = block == mask_id
        r = torch.rand(B, n, generator=gen, device=block.device).masked_fill(~masked, -1.0)
        j = r.argmax(1)
        tok = draw(logits[rows, j], mask_id, gen)
        block[rows, j] = torch.where(masked.any(1), tok, block[rows, j])
    return calls


def ancestral(steps):
    """T ancestral steps per block (t_i = 1 - i/T, s = max(t_i - 1/T, 0)); the prediction is
    reused when a step changed nothing. Returns the calls made."""

    def run(den, block, mask_id, gen):
        calls, step, logits = 0, 0, None
        cap = 4 * block.shape[1] + 10_000
        while True:
            masked = block == mask_id
            if not bool(masked.any()):
                return calls
            if step >= cap:
                raise RuntimeError(f"ancestral(T={steps}) did not finish a block in {cap} steps")
            t = max(1 - step / steps, 1 / steps)
            if logits is None:
                logits = den.denoise(block, t)
                calls += 1
            nxt = max(t - 1 / steps, 0)
            reveal = masked
            if nxt > 0:
                reveal = masked & (torch.rand(block.shape, generator=gen, device=block.device) >= nxt / t)
            idx = reveal.nonzero(as_tuple=True)
            if idx[0].numel():
                block[idx] = draw(logits[idx], mask_id, gen)
                logits = None
            step += 1

    return run


def semi_ar(den, seq, P, block_size, chunk, inner, mask_id, gen, on_prefill=None):
    """schedules/samplers/semi_ar.ts with a fixed block size and no stop rules. `on_prefill`
    is called once the prompt's full chunks are committed."""
    length = seq.shape[1]
    nfe = commits = pos = 0
    den.reset()
    # The prompt's full chunks in one pass when the denoiser can (blockdiff's commitPrompt).
    whole = 0
    while P - whole >= chunk and P - whole > 0 and whole + chunk < length:
        whole += chunk
    if whole > chunk and hasattr(den, "commit_prompt") and den.commit_prompt(seq[:, :whole], chunk):
        commits += 1
        pos = whole
    while P - pos >= chunk and P - pos > 0 and pos + chunk < length:
        den.commit(seq[:, pos:pos + chunk])
        commits += 1
        pos += chunk
    if on_prefill:
        on_prefill()
    while pos < length:
        tail, room = max(P - pos, 0), length - pos
        size = min(max(block_size, tail + 1), room)
        block = seq[:, pos:pos + size].clone()
        nfe += inner(den, block, mask_id, gen)
        seq[:, pos:pos + size] = block
        pos += size
        if pos < length:
            den.commit(block)
            commits += 1
    return nfe, commits


def ar_sample(model, seq, P, mask_id, gen, on_prefill=None):
    """schedules/samplers/ar.ts without stop rules. `on_prefill` is called after the prompt's
    pass(es)."""
    length = seq.shape[1]
    model.reset()
    logits = model.append(seq[:, :P])
    nfe = 1
    if on_prefill:
        on_prefill()
    for pos in range(P, length):
        nxt = draw(logits, mask_id, gen)
        seq[:, pos] = nxt
        if pos + 1 < length:
            logits = model.append(nxt[:, None])
            nfe += 1
    return nfe, 0


# ---------------------------------------------------------------- command line
def read_config(model_dir):
    cfg_path = os.path.join(model_dir, "config.json")
    for p in (cfg_path, os.path.join(model_dir, "model.safetensors")):
        if not os.path.isfile(p):
            raise UsageError(f"{p}: no such file")
    with open(cfg_path) as f:
        cfg = json.load(f)
    for k in ("hidden_dim", "n_heads", "n_blocks", "vocab_size", "model_length"):
        if not isinstance(cfg.get(k), int):
            raise UsageError(f"{cfg_path}: no integer {k}")
    return cfg


def load(model_dir, dtype, device, matmul="torch"):
    """(config, Model) of a HF BD3-LM directory."""
    cfg = read_config(model_dir)
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"), dtype=torch.float32)
    return cfg, Model(cfg, w, dtype, device, matmul)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(model, algo, kv, batch, block_size, steps, mask_id, seq_len):
    """The sampler as a function of (seq, P, gen, on_prefill=None) -> (nfe, commits), and its
    denoiser."""
    if algo == "bd3lm":
        den = KvBlockDenoiser(model, batch) if kv else WindowBlockDenoiser(model, batch)
        return den, lambda seq, P, gen, on_prefill=None: semi_ar(
            den, seq, P, block_size, block_size, first_hitting, mask_id, gen, on_prefill)
    if algo == "mdlm":
        den = FullDenoiser(model, batch)
        inner = ancestral(steps)
        return den, lambda seq, P, gen, on_prefill=None: semi_ar(
            den, seq, P, seq_len, seq_len, inner, mask_id, gen, on_prefill)
    den = KvArModel(model, batch) if kv else WindowArModel(model, batch)
    return den, lambda seq, P, gen, on_prefill=None: ar_sample(den, seq, P, mask_id, gen, on_prefill)


def warm_up(model, den, seq, P, kv, algo, block_size):
    """One network call of the run's kind (not timed)."""
    if kv and algo != "mdlm":
        den.reset()
        n = 1 if algo == "ar" else min(block_size, model.L)
        model.forward_cached(seq[:, :n], den.cache, False)
        den.reset()
    else:
        S = min(seq.shape[1], model.L)
        model.forward(seq[:, :S], None, last=1)
    den.passes = 0


def sample(args):
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda, but torch {torch.__version__} sees no CUDA device")
    device = torch.device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    matmul = default_matmul(args.device, dtype) if args.matmul == "auto" else args.matmul
    cfg = read_config(args.model)
    algo = args.algo or ("ar" if cfg.get("causal") else "bd3lm" if cfg.get("cross_attn") else "mdlm")
    V, model_length = cfg["vocab_size"], cfg["model_length"]
    mask_id = V - 1 if args.mask_id is None else args.mask_id
    bos_id = V - 2 if args.bos_id is None else args.bos_id
    prompt = []
    if args.prompt_ids:
        with open(args.prompt_ids) as f:
            prompt = json.load(f)
        if not isinstance(prompt, list) or not all(type(x) is int for x in prompt):
            raise UsageError(f"{args.prompt_ids}: expected a JSON array of integers")
    prefix = ([bos_id] if bos_id >= 0 else []) + prompt
    bad = [x for x in prefix + [mask_id] if not 0 <= x < V]
    if bad:
        raise UsageError(f"token id {bad[0]} is outside the vocabulary of {V}")
    P, N, B = len(prefix), args.generate, args.batch
    if P < 1:
        raise UsageError("the prefix is empty: give prompt ids or a BOS id")
    if N < 1 or B < 1:
        raise UsageError("--generate and --batch must be >= 1")
    block_size = args.block_size or int(cfg.get("block_size", 1))
    if algo == "bd3lm" and not 1 <= block_size <= model_length:
        raise UsageError(f"--block-size must be in [1, {model_length}], got {block_size}")
    if algo == "mdlm" and P + N > model_length:
        raise UsageError(f"mdlm denoises one window: prefix {P} + {N} tokens exceeds the model "
                         f"length {model_length}")
    steps = args.steps or (P + N)
    if steps < 1:
        raise UsageError("--steps must be >= 1")
    kv = args.kv_cache and algo != "mdlm"
    _, model = load(args.model, dtype, device, matmul)
    seq = torch.full((B, P + N), mask_id, dtype=torch.long, device=device)
    seq[:, :P] = torch.tensor(prefix, dtype=torch.long, device=device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    with torch.no_grad():
        den, run = build(model, algo, kv, B, block_size, steps, mask_id, P + N)
        warm_up(model, den, seq, P, kv, algo, block_size)
        sync(device)
        marks = []

        def prefill_done():
            sync(device)
            marks.append(time.perf_counter())

        t0 = time.perf_counter()
        nfe, commits = run(seq, P, gen, prefill_done)
        sync(device)
        seconds = time.perf_counter() - t0
    if bool((seq == mask_id).any()):
        raise RuntimeError("a mask token survived sampling")
    generated = B * N
    return {
        "tokens_per_s": generated / max(seconds, 1e-9),
        "seconds": seconds,
        "prefill_seconds": marks[0] - t0 if marks else 0.0,
        "nfe": nfe,
        "generated": generated,
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "matmul": matmul,
        "blas": torch_blas(),
        "algo": algo,
        "kv_cache": kv,
        "batch": B,
        "block_size": block_size if algo == "bd3lm" else (P + N if algo == "mdlm" else 1),
        "prefix": P,
        "commits": commits,
        "passes": den.passes,
    }


# ---------------------------------------------------------------- self-check
def self_check(args):
    """float64: KV-cached calls vs the uncached recompute vs bd3lm_torch.Dit."""
    from bd3lm_torch import Dit
    from make_fixtures import hf_config, parameters

    torch.set_num_threads(args.threads or torch.get_num_threads())
    f64 = torch.float64
    gen = torch.Generator().manual_seed(7)
    out, worst = {}, 0.0

    def model_pair(algo, b):
        cfg = hf_config(algo, b)
        w = parameters(cfg, gen)
        return cfg, Model(cfg, w, f64), Dit(cfg, w)

    def note(name, a, b):
        nonlocal worst
        d = float((a - b).abs().max())
        out[name] = max(out.get(name, 0.0), d)
        worst = max(worst, d / (1 + float(b.abs().max())) if "slide" not in name else 0.0)

    class Checking:
        """Runs every call through the cached and the uncached denoiser and the port."""

        def __init__(self, model, ref, batch, b, prefill):
            self.kv, self.win, self.ref, self.b, self.passes = (
                KvBlockDenoiser(model, batch), WindowBlockDenoiser(model, batch), ref, b, 0)
            self.prefill = prefill

        def commit_prompt(self, ids, chunk):
            if not (self.prefill and self.kv.commit_prompt(ids, chunk)):
                return False
            for pos in range(0, ids.shape[1], chunk):
                self.win.commit(ids[:, pos:pos + chunk])
            return True

        def reset(self):
            self.kv.reset()
            self.win.reset()

        def denoise(self, block, t):
            a = self.kv.denoise(block, t)
            c = self.win.denoise(block, t)
            note("bd3lm_kv_vs_recompute", a, c)
            ids, sizes = self.win.window_ids(block)
            if all(s == self.b for s in sizes[:-1]):
                r = self.ref.forward(ids, "blockCausal", block_size=self.b)[:, -block.shape[1]:]
                note("bd3lm_kv_vs_reference_port", a, r)
            return a

        def commit(self, block):
            self.kv.commit(block)
            self.win.commit(block)

    with torch.no_grad():
        # BD3-LM, L' = 4: a prompt with a partial tail block, a last block cut short.
        cfg, model, ref = model_pair("bd3lm", 4)
        V, L, B = model.V, model.L, 2
        mask_id = V - 1
        for P, prefill in ((1, True), (6, True), (9, True), (9, False), (11, True)):
            seq = torch.full((B, L - 1), mask_id, dtype=torch.long)
            seq[:, :P] = torch.randint(0, V - 1, (P,), generator=gen)
            check = Checking(model, ref, B, 4, prefill)
            nfe, _ = semi_ar(check, seq, P, 4, 4, first_hitting, mask_id, gen)
            # P >= 9: chunks [0, 8) in one pass, then blocks [8, 12) and [12, 15), the first
            # of them committed.
            if prefill and P >= 9 and check.kv.passes != nfe + 2:
                raise AssertionError(f"P={P}: the prompt was not prefilled in one pass")
            if nfe != L - 1 - P:
                raise AssertionError(f"bd3lm first-hitting made {nfe} calls for {L - 1 - P} tokens")
        # A run past the window: the cache slides. At layer 0 a token's K/V depend on the token
        # alone, so the kept keys must equal fresh ones rotated at window-relative positions.
        seq = torch.full((B, 3 * L), mask_id, dtype=torch.long)
        seq[:, :6] = torch.randint(0, V - 1, (6,), generator=gen)
        kv = KvBlockDenoiser(model, B)
        semi_ar(kv, seq, 6, 4, 4, first_hitting, mask_id, gen)
        semi_ar(WindowBlockDenoiser(model, B), seq.clone(), 6, 4, 4, first_hitting, mask_id, gen)
        c = kv.cache
        start = seq.shape[1] - 4 - c.p  # blocks start at 4, 8, ...; the last is not committed
        if c.p <= 0 or start <= 0:
            raise AssertionError("the cache did not slide")
        x = model.w["backbone.vocab_embed.embedding"][seq[:, start:start + c.p]]
        _, k, v = model._qkv(0, x, model.mods(B, None), model.cos[:c.p], model.sin[:c.p])
        note("slide_layer0_k", c.k[0][:, :, :c.p], k)
        note("slide_layer0_v", c.v[0][:, :, :c.p], v)
        if out["slide_layer0_k"] > 1e-5 or out["slide_layer0_v"] > 1e-12:
            raise AssertionError(f"slid cache differs from fresh keys: {out}")
        # AR: cached one token per pass vs the causal recompute vs the port.
        cfg, model, ref = model_pair("ar", L)
        seq = torch.full((B, L), mask_id, dtype=torch.long)
        seq[:, :3] = torch.randint(0, V - 1, (3,), generator=gen)
        kvm, win = KvArModel(model, B), WindowArModel(model, B)
        logits = kvm.append(seq[:, :3])
        note("ar_kv_vs_recompute", logits, win.append(seq[:, :3]))
        for pos in range(3, L):
            seq[:, pos] = draw(logits, mask_id, gen)
            logits = kvm.append(seq[:, pos:pos + 1])
            note("ar_kv_vs_recompute", logits, win.append(seq[:, pos:pos + 1]))
            note("ar_kv_vs_reference_port", logits, ref.forward(seq[:, :pos + 1], "causal")[:, -1])
        # MDLM: the full pass vs the port.
        cfg, model, ref = model_pair("mdlm", L)
        ids = torch.randint(0, V, (B, L), generator=gen)
        note("mdlm_vs_reference_port", model.forward(ids), ref.forward(ids, "full"))
        # Whole sampling runs: cached and recomputing samplers draw the same tokens from the
        # same seed; MDLM reveals every mask within T ancestral steps.
        same = {}
        for algo in ("bd3lm", "ar"):
            cfg, model, _ = model_pair(algo, 4 if algo == "bd3lm" else L)
            seqs, nfes = [], []
            for kv in (True, False):
                seq = torch.full((B, L - 1), mask_id, dtype=torch.long)
                seq[:, :6] = torch.arange(6)
                _, run = build(model, algo, kv, B, 4, 1, mask_id, L - 1)
                nfes.append(run(seq, 6, torch.Generator().manual_seed(3))[0])
                seqs.append(seq)
            same[algo] = bool(torch.equal(seqs[0], seqs[1])) and nfes == [L - 7, L - 7]
        cfg, model, _ = model_pair("mdlm", L)
        seq = torch.full((B, L), mask_id, dtype=torch.long)
        seq[:, 0] = 0
        _, run = build(model, "mdlm", False, B, L, 4, mask_id, L)
        nfe, _ = run(seq, 1, gen)
        same["mdlm"] = 1 <= nfe <= 4 and not bool((seq == mask_id).any())
        # float32: the oneDNN backend against torch's matmuls (whole windows of >= 64 query rows
        # take the per-head oneDNN attention, cached blocks the plain one).
        if default_matmul("cpu", torch.float32) == "mkldnn":
            cfg = dict(hf_config("bd3lm", 4), vocab_size=300, model_length=128)
            w = parameters(cfg, gen)
            ids = torch.randint(0, 299, (B, 128), generator=gen)
            rel = 0.0
            for n_ctx in (0, 64, 120):
                outs = []
                for mm in ("torch", "mkldnn"):
                    model = Model(cfg, w, torch.float32, "cpu", mm)
                    kv, win = KvBlockDenoiser(model, B), WindowBlockDenoiser(model, B)
                    for pos in range(0, n_ctx, 4):
                        kv.commit(ids[:, pos:pos + 4])
                        win.commit(ids[:, pos:pos + 4])
                    block = ids[:, n_ctx:n_ctx + 4]
                    outs += [kv.denoise(block, 1.0), win.denoise(block, 1.0)]
                for a, b in ((outs[0], outs[2]), (outs[1], outs[3])):
                    rel = max(rel, float((a - b).abs().max()) / float(b.abs().max()))
            out["mkldnn_vs_torch_float32_relative"] = rel
            same["mkldnn"] = rel < 1e-4
    ok = worst < 1e-10 and all(same.values())
    print(json.dumps({"self_check": "ok" if ok else "failed", "max_abs_diff": out, "runs_ok": same}))
    if not ok:
        print(f"sample_torch.py: self-check failed (worst relative difference {worst:.3g}, runs {same})",
              file=sys.stderr)
        sys.exit(1)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse(argv):
    p = Parser(description="PyTorch peer of blockdiff's samplers (see the module docstring).")
    p.add_argument("--model", help="HF BD3-LM directory (config.json + model.safetensors)")
    p.add_argument("--algo", choices=["bd3lm", "mdlm", "ar"], help="default: from config.json")
    p.add_argument("--block-size", type=int, help="BD3-LM block size L' (default: config block_size)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt-ids", help="JSON array of prompt token ids (after BOS), may be empty")
    p.add_argument("--generate", type=int, default=16, help="tokens generated per row")
    p.add_argument("--steps", type=int, help="MDLM ancestral steps T (default: the row length)")
    p.add_argument("--kv-cache", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--matmul", choices=["auto", "torch", "mkldnn"], default="auto",
                   help="linear layers and attention products through torch's BLAS (torch) or "
                   "oneDNN (mkldnn); auto: mkldnn for float32 on the CPU when available")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bos-id", type=int, help="BOS prepended to every row (default vocab-2, "
                   "GPT-2's <|endoftext|> with the mask appended; -1: none)")
    p.add_argument("--mask-id", type=int, help="mask token id (default vocab-1)")
    p.add_argument("--self-check", action="store_true",
                   help="check cached vs recomputed logits in float64 and exit")
    a = p.parse_args(argv)
    if not a.self_check and not a.model:
        raise UsageError("--model is required (or --self-check)")
    return a


def main(argv):
    try:
        args = parse(argv)
        if args.self_check:
            self_check(args)
            return
        print(json.dumps(sample(args)))
    except SystemExit:
        raise
    except BaseException as e:  # one line, exit 2
        msg = str(e) if isinstance(e, UsageError) else f"{type(e).__name__}: {e}"
        print(f"sample_torch.py: {' '.join(msg.split())}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
