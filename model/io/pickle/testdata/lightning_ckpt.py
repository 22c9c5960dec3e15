"""Test peer of model/io/pickle/lightning_test.ts.

  gen OUT.ckpt [VOCAB]   writes a checkpoint shaped like the reference's Lightning ones (a DiT with the
                 reference's module names and registration order, an EMA whose shadow_params
                 differ from the weights, an omegaconf DictConfig with interpolations, and a
                 tokenizer object of a class defined only here) and prints the expected EMA and
                 raw tensors as JSON.
  check IN.ckpt [VOCAB]  loads IN.ckpt with torch.load(weights_only=True), loads its state_dict into the
                 same DiT, reads the keys the reference's on_load_checkpoint reads, and prints
                 everything as JSON.
"""
import collections
import json
import sys

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones([dim]))


class Rotary(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))


class TimestepEmbedder(nn.Module):
    def __init__(self, cond):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, cond), nn.SiLU(), nn.Linear(cond, cond))


class Block(nn.Module):
    def __init__(self, d, cond):
        super().__init__()
        self.norm1 = LayerNorm(d)
        self.attn_qkv = nn.Linear(d, 3 * d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.dropout1 = nn.Dropout(0.1)
        self.norm2 = LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.dropout2 = nn.Dropout(0.1)
        self.adaLN_modulation = nn.Linear(cond, 6 * d)


class Embedding(nn.Module):
    def __init__(self, d, v):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty((v, d)))


class FinalLayer(nn.Module):
    def __init__(self, d, v, cond):
        super().__init__()
        self.norm_final = LayerNorm(d)
        self.linear = nn.Linear(d, v)
        self.adaLN_modulation = nn.Linear(cond, 2 * d)


class DIT(nn.Module):
    def __init__(self, v, d, heads, cond, n):
        super().__init__()
        self.vocab_embed = Embedding(d, v)
        self.sigma_map = TimestepEmbedder(cond)
        self.rotary_emb = Rotary(d // heads)
        self.blocks = nn.ModuleList([Block(d, cond) for _ in range(n)])
        self.output_layer = FinalLayer(d, v, cond)


class Diffusion(nn.Module):
    def __init__(self, vocab=12):
        super().__init__()
        self.backbone = DIT(v=vocab, d=8, heads=2, cond=4, n=2)
        self.register_buffer("sampling_eps_min", torch.tensor(1e-3))
        self.register_buffer("sampling_eps_max", torch.tensor(1.0))


class SecretTokenizer:
    """Defined only in this script: nobody else can import it."""

    def __init__(self):
        self.vocab = {"[MASK]": 11}

    def __reduce__(self):
        return (SecretTokenizer, ())


def values(t):
    return t.detach().float().reshape(-1).tolist()


def gen(out, vocab="12"):
    import omegaconf

    torch.manual_seed(0)
    model = Diffusion(int(vocab))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    names = [k for k, _ in model.named_parameters()]
    shadow = []
    for i, p in enumerate(model.parameters()):
        s = p.detach() + 0.5
        if i == 0:  # a non-contiguous view (transposed storage)
            v = torch.empty(s.shape[1], s.shape[0]).t()
            v.copy_(s)
            s = v
        elif i == 1:  # a view at an offset into a larger storage
            v = torch.zeros(s.numel() + 7)[7:].view(s.shape)
            v.copy_(s)
            s = v
        elif i == 2:
            s = s.half()
        shadow.append(s)
    cfg = omegaconf.OmegaConf.create({
        "mode": "train",
        "block_size": 4,
        "model": {"name": "tiny-test", "hidden_size": 8, "cond_dim": 4, "length": 8,
                  "n_blocks": 2, "n_heads": 2, "dropout": 0.1, "adaln": False,
                  "attn_backend": "sdpa", "tie_word_embeddings": True},
        "algo": {"name": "bd3lm", "backbone": "dit", "parameterization": "subs",
                 "time_conditioning": False, "causal_attention": False, "cross_attn": True,
                 "var_min": True},
        "training": {"ema": 0.9999, "sampling_eps_min": 1e-3, "sampling_eps_max": 1.0},
        "loader": {"global_batch_size": 4, "eval_global_batch_size": "${.global_batch_size}"},
        "data": {"tokenizer_name_or_path": "gpt2"},
    })
    opt = torch.optim.AdamW(model.parameters())
    ckpt = {
        "epoch": 3,
        "global_step": 42,
        "pytorch-lightning_version": "2.5.0.post0",
        "state_dict": model.state_dict(),
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}},
                               "epoch_loop.batch_progress": {"current": {"completed": 9}}}},
        "callbacks": {},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"config": cfg, "tokenizer": SecretTokenizer()},
        "ema": {"decay": 0.9999, "num_updates": 42, "shadow_params": shadow},
        "sampling_eps_min": torch.tensor(0.25),
        "sampling_eps_max": torch.tensor(0.75),
    }
    torch.save(ckpt, out)
    sd = model.state_dict()
    print(json.dumps({
        "parameters": names,
        "ema": {k: values(s) for k, s in zip(names, shadow)},
        "raw": {k: values(v) for k, v in sd.items()},
    }))


class _Restricted:
    """A pickle module whose unpickler resolves only what weights_only allows a checkpoint."""

    import pickle as _pickle

    class Unpickler(_pickle.Unpickler):
        ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")}

        def find_class(self, module, name):
            if (module, name) not in self.ALLOWED:
                raise RuntimeError(f"global {module}.{name} is not allowed")
            return super().find_class(module, name)

    load = _pickle.load


def check(path, vocab="12"):
    try:
        ck = torch.load(path, weights_only=True)
        loader = "weights_only"
    except Exception as e:  # noqa: BLE001
        # torch < 2.0's weights-only unpickler has no BINFLOAT, so no float (ema.decay) loads;
        # check the same allowlist with a restricted unpickler instead.
        if "Unsupported operand 71" not in str(e) or int(torch.__version__.split(".")[0]) >= 2:
            raise
        ck = torch.load(path, pickle_module=_Restricted)
        loader = "restricted"
    model = Diffusion(int(vocab))
    missing = model.load_state_dict(ck["state_dict"], strict=True)
    params = list(model.parameters())
    shadow = ck["ema"]["shadow_params"]
    fit = ck["loops"]["fit_loop"]
    print(json.dumps({
        "loader": loader,
        "keys": sorted(ck.keys()),
        "state_dict_type": type(ck["state_dict"]).__name__,
        "state_dict": {k: values(v) for k, v in ck["state_dict"].items()},
        "loaded": str(missing),
        "shadow_shapes_match": len(shadow) == len(params) and all(
            s.shape == p.shape for s, p in zip(shadow, params)),
        "shadow": [values(s) for s in shadow],
        "decay": ck["ema"]["decay"],
        "num_updates": ck["ema"]["num_updates"],
        "global_step": ck["global_step"],
        "fast_forward": [fit["epoch_progress"]["current"]["completed"],
                         fit["epoch_loop.batch_progress"]["current"]["completed"]],
        "optimizer_step": fit["epoch_loop.automatic_optimization.optim_progress"]["optimizer"][
            "step"]["total"]["completed"],
        "sampling_eps": [float(ck["sampling_eps_min"]), float(ck["sampling_eps_max"])],
    }))


if __name__ == "__main__":
    {"gen": gen, "check": check}[sys.argv[1]](*sys.argv[2:])
