"""An independent float64 PyTorch implementation of the BD3-LM DiT backbone, written from
the paper's and the reference's equations (docs/design.md, "The model and its masks"), used
to make parity fixtures for blockdiff and to show that checkpoints exported by blockdiff load
and run in PyTorch.

It reads and writes the Hugging Face layout (config.json + model.safetensors) with a small
pure-Python safetensors codec, so it needs only torch and numpy (Debian: python3-torch).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

DT = torch.float64


# ---------------------------------------------------------------- safetensors (pure Python)
def read_safetensors(path, dtype=DT):
    """Every tensor of a safetensors file (F32/F16/BF16), as `dtype` (float64 by default)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a : base + b]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            raise ValueError(f"{path}: unsupported dtype {info['dtype']} for {key}")
        out[key] = torch.from_numpy(arr.reshape(info["shape"]).copy()).to(dtype)
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for key in sorted(tensors):
        arr = tensors[key].detach().to(torch.float32).numpy().astype("<f4")
        raw = arr.tobytes()
        header[key] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------- the backbone (docs/design.md,
# "Backbone")
def layer_norm(x, w):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * w


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def timestep_features(sigma):
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=DT) / half)
    args = sigma[:, None].to(DT) * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rotary_cos_sin(positions, head_dim):
    # inv_freq and p·inv_freq rounded to f32 as the reference computes them.
    inv = (1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)))
    theta = positions.to(torch.float32)[:, None] * inv[None]
    theta = torch.cat([theta, theta], dim=-1).to(DT)
    return torch.cos(theta), torch.sin(theta)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


def block_diff_mask(L, b):
    i = torch.arange(2 * L)
    half = (i >= L).long()
    blk = torch.where(i < L, i // b, (i - L) // b)
    hq, hk = half[:, None], half[None, :]
    bq, bk = blk[:, None], blk[None, :]
    bd = (hq == hk) & (bq == bk)
    obc = (hq == 0) & (hk == 1) & (bq > bk)
    bc = (hq == 1) & (hk == 1) & (bq >= bk)
    return bd | obc | bc


class Dit:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        self.d = cfg["hidden_dim"]
        self.h = cfg["n_heads"]
        self.D = self.d // self.h
        self.adaln = cfg.get("adaln", True) and not cfg.get("causal", False)

    def cvec(self, sigma, batch):
        if not self.adaln:
            return None
        w = self.w
        s = sigma if (sigma is not None and self.c.get("time_conditioning")) else torch.zeros(batch, dtype=DT)
        e = timestep_features(s)
        hdn = F.silu(e @ w["backbone.sigma_map.mlp.0.weight"].T + w["backbone.sigma_map.mlp.0.bias"])
        out = hdn @ w["backbone.sigma_map.mlp.2.weight"].T + w["backbone.sigma_map.mlp.2.bias"]
        return F.silu(out)

    def qkv(self, i, x, c):
        w, p = self.w, f"backbone.blocks.{i}."
        mod = c @ w[p + "adaLN_modulation.weight"].T + w[p + "adaLN_modulation.bias"] if c is not None else None
        a = layer_norm(x, w[p + "norm1.weight"])
        if mod is not None:
            ch = mod.chunk(6, dim=-1)
            a = a * (1 + ch[1][:, None]) + ch[0][:, None]
        return a @ w[p + "attn_qkv.weight"].T, mod

    def finish_block(self, i, skip, o, mod):
        w, p = self.w, f"backbone.blocks.{i}."
        r = o @ w[p + "attn_out.weight"].T
        ch = mod.chunk(6, dim=-1) if mod is not None else None
        x = skip + (ch[2][:, None] * r if ch else r)
        u = layer_norm(x, w[p + "norm2.weight"])
        if ch:
            u = u * (1 + ch[4][:, None]) + ch[3][:, None]
        m = gelu_tanh(u @ w[p + "mlp.0.weight"].T + w[p + "mlp.0.bias"]) @ w[p + "mlp.2.weight"].T + w[p + "mlp.2.bias"]
        return x + (ch[5][:, None] * m if ch else m)

    def attend(self, q, k, v, allowed):
        # q, k, v: [B, S, H, D]
        B, Sq, H, D = q.shape
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(D)
        if allowed is not None:
            s = s.masked_fill(~allowed[None, None], float("-inf"))
        p = torch.softmax(s, dim=-1)
        return torch.einsum("bhqk,bkhd->bqhd", p, v).reshape(B, Sq, H * D)

    def split(self, qkv):
        B, S, _ = qkv.shape
        q, k, v = qkv.view(B, S, 3, self.h, self.D).unbind(2)
        return q, k, v

    def output(self, x, c):
        w = self.w
        z = layer_norm(x, w["backbone.output_layer.norm_final.weight"])
        if c is not None:
            m = c @ w["backbone.output_layer.adaLN_modulation.weight"].T + w["backbone.output_layer.adaLN_modulation.bias"]
            shift, scale = m.chunk(2, dim=-1)
            z = z * (1 + scale[:, None]) + shift[:, None]
        return z @ w["backbone.output_layer.linear.weight"].T + w["backbone.output_layer.linear.bias"]

    def forward(self, ids, mode, sigma=None, block_size=None):
        """mode: 'bdTrain' (ids = [x_t ; x0], returns x_t rows), 'full', 'causal', 'blockCausal'."""
        B, S = ids.shape
        x = self.w["backbone.vocab_embed.embedding"][ids]
        c = self.cvec(sigma, B)
        L = S // 2 if mode == "bdTrain" else S
        pos = torch.arange(S) % L  # x_t token i and x0 token i share position i
        cos, sin = rotary_cos_sin(pos, self.D)
        cos, sin = cos[None, :, None], sin[None, :, None]
        if mode == "bdTrain":
            allowed = block_diff_mask(L, block_size)
        elif mode == "causal":
            allowed = torch.ones(S, S, dtype=torch.bool).tril()
        elif mode == "blockCausal":
            i = torch.arange(S)
            allowed = (i[None] // block_size) <= (i[:, None] // block_size)
        else:
            allowed = None
        for i in range(self.c["n_blocks"]):
            qkv, mod = self.qkv(i, x, c)
            q, k, v = self.split(qkv)
            o = self.attend(rotate(q, cos, sin), rotate(k, cos, sin), v, allowed)
            x = self.finish_block(i, x, o, mod)
        if mode == "bdTrain":
            x = x[:, :L]
        return self.output(x, c)

    def cached_block_logits(self, prefix_ids, block_ids):
        """Logits of `block_ids` given committed `prefix_ids`, the way the reference's KV-cache
        path computes them (docs/design.md, "KV cache and sliding window"): raw qkv of the
        whole window, rotary with positions 0…P−1, no mask, keep the block's rows. Equal to the
        block-causal window pass."""
        ids = torch.cat([prefix_ids, block_ids], dim=1)
        B, P = ids.shape
        b = block_ids.shape[1]
        x = self.w["backbone.vocab_embed.embedding"][ids]
        c = self.cvec(None, B)
        cos, sin = rotary_cos_sin(torch.arange(P), self.D)
        cos, sin = cos[None, :, None], sin[None, :, None]
        # Each committed block only ever attended to the blocks before it and itself (it was
        # committed with that context), so the prefix rows follow the block-causal rule.
        block_size = b
        i = torch.arange(P)
        allowed = (i[None] // block_size) <= (i[:, None] // block_size)
        for li in range(self.c["n_blocks"]):
            qkv, mod = self.qkv(li, x, c)
            q, k, v = self.split(qkv)
            o = self.attend(rotate(q, cos, sin), rotate(k, cos, sin), v, allowed)
            x = self.finish_block(li, x, o, mod)
        return self.output(x[:, P - b :], c)


def subs_loss(logits, xt, x0, t, mask_id, eval_mode=False):
    """BD3-LM / MDLM NELBO per token (docs/design.md, "Losses") and the reduced loss."""
    lg = logits.clone()
    lg[..., mask_id] = float("-inf")
    logp = torch.log_softmax(lg, dim=-1)
    nll = -logp.gather(-1, x0[..., None])[..., 0]
    masked = xt == mask_id
    per_tok = torch.where(masked, nll / t, torch.zeros_like(nll))
    if eval_mode:
        per_tok[:, 0] = 0
        return per_tok, per_tok.sum() / (per_tok.numel() - per_tok.shape[0])
    return per_tok, per_tok.mean()


def ar_loss(logits, x0, mask_id):
    lg = logits.clone()
    lg[..., mask_id] = -1e6
    logp = torch.log_softmax(lg, dim=-1)
    nll = -logp.gather(-1, x0[:, 1:, None])[..., 0]
    return nll.mean()


def sedd_loss(logits, xt, x0, sigma_tok, t_tok, mask_id):
    """SEDD absorbing-state score entropy, mean over all tokens."""
    V = logits.shape[-1]
    em1 = torch.expm1(sigma_tok)
    log_score = logits - torch.log(em1)[..., None] - math.log(V - 1)
    log_score = log_score.scatter(-1, xt[..., None], torch.zeros_like(log_score[..., :1]))
    q = 1 / em1
    neg = q * log_score.gather(-1, x0[..., None])[..., 0]
    keep = torch.ones(V, dtype=torch.bool)
    keep[mask_id] = False
    pos = torch.exp(log_score[..., keep]).sum(-1)
    const = q * (torch.log(q) - 1)
    ent = pos - neg + const
    dsig = em1 / t_tok
    per_tok = torch.where(xt == mask_id, dsig * ent, torch.zeros_like(ent))
    return per_tok.mean()
