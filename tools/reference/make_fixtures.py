"""Makes blockdiff's parity fixtures with the PyTorch implementation in bd3lm_torch.py, and
checks that a checkpoint exported by blockdiff runs in PyTorch.

  python3 tools/reference/make_fixtures.py write model/nn/testdata
      writes, for each algorithm, <dir>/<algo>/config.json + model.safetensors (random weights,
      Hugging Face layout) and <dir>/<algo>/expected.json (inputs, logits, losses).
  python3 tools/reference/make_fixtures.py check <export-dir> <inputs.json>
      loads an exported checkpoint, runs the inputs, prints {"logits": …} as JSON.
"""
import json
import os
import sys

import torch

from bd3lm_torch import DT, Dit, ar_loss, read_safetensors, sedd_loss, subs_loss, write_safetensors

SIZE = dict(vocab_size=37, hidden_dim=32, n_heads=4, n_blocks=2, cond_dim=16, model_length=16)


def hf_config(algo, block_size):
    return {
        "model_type": "bd3lm",
        "architectures": ["BD3LM"],
        "auto_map": {
            "AutoConfig": "configuration_bd3lm.BD3LMConfig",
            "AutoModelForMaskedLM": "modeling_bd3lm.BD3LM",
        },
        "block_size": block_size,
        **SIZE,
        "dropout": 0.0,
        "time_conditioning": algo == "sedd",
        "cross_attn": algo == "bd3lm",
        "adaln": algo != "ar",
        "causal": algo == "ar",
        "var_min": algo == "bd3lm",
        "sampling_eps_min": 1e-3,
        "sampling_eps_max": 1.0,
        "attn_backend": "sdpa",
        "return_dict": False,
        "torch_dtype": "float32",
    }


def parameters(cfg, gen):
    d, v, c = cfg["hidden_dim"], cfg["vocab_size"], cfg["cond_dim"]
    shapes = {"backbone.vocab_embed.embedding": (v, d)}
    ada = cfg["adaln"]
    if ada:
        shapes.update({
            "backbone.sigma_map.mlp.0.weight": (c, 256), "backbone.sigma_map.mlp.0.bias": (c,),
            "backbone.sigma_map.mlp.2.weight": (c, c), "backbone.sigma_map.mlp.2.bias": (c,),
        })
    for i in range(cfg["n_blocks"]):
        p = f"backbone.blocks.{i}."
        shapes.update({
            p + "norm1.weight": (d,), p + "attn_qkv.weight": (3 * d, d), p + "attn_out.weight": (d, d),
            p + "norm2.weight": (d,), p + "mlp.0.weight": (4 * d, d), p + "mlp.0.bias": (4 * d,),
            p + "mlp.2.weight": (d, 4 * d), p + "mlp.2.bias": (d,),
        })
        if ada:
            shapes.update({p + "adaLN_modulation.weight": (6 * d, c), p + "adaLN_modulation.bias": (6 * d,)})
    shapes.update({
        "backbone.output_layer.norm_final.weight": (d,),
        "backbone.output_layer.linear.weight": (v, d), "backbone.output_layer.linear.bias": (v,),
    })
    if ada:
        shapes.update({
            "backbone.output_layer.adaLN_modulation.weight": (2 * d, c),
            "backbone.output_layer.adaLN_modulation.bias": (2 * d,),
        })
    w = {}
    for k, s in shapes.items():
        fan = s[1] if len(s) == 2 else 4
        t = torch.randn(*s, generator=gen, dtype=DT) / fan**0.5
        if k.endswith("norm1.weight") or k.endswith("norm2.weight") or k.endswith("norm_final.weight"):
            t = 1 + 0.2 * torch.randn(*s, generator=gen, dtype=DT)
        # Round to f32 so both sides start from the same weights.
        w[k] = t.to(torch.float32).to(DT)
    return w


def lst(t):
    return [round(float(x), 9) for x in t.reshape(-1).tolist()]


def write(root):
    gen = torch.Generator().manual_seed(1234)
    B, L = 2, SIZE["model_length"]
    V = SIZE["vocab_size"]
    mask_id = V - 1
    for algo, b in [("bd3lm", 4), ("mdlm", L), ("ar", L), ("sedd", L)]:
        cfg = hf_config(algo, b)
        w = parameters(cfg, gen)
        out = os.path.join(root, algo)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(out, "model.safetensors"), w)
        model = Dit(cfg, w)
        x0 = torch.randint(0, V - 1, (B, L), generator=gen)
        exp = {"batch": B, "length": L, "mask_id": mask_id, "x0": x0.reshape(-1).tolist()}
        if algo == "ar":
            exp["logits_causal"] = lst(model.forward(x0[:, :-1], "causal"))
            exp["loss"] = float(ar_loss(model.forward(x0[:, :-1], "causal"), x0, mask_id))
        else:
            t = torch.rand(B, L // b, generator=gen, dtype=DT) * 0.9 + 0.05
            t_tok = t.repeat_interleave(b, dim=1)
            xt = torch.where(torch.rand(B, L, generator=gen, dtype=DT) <= t_tok, torch.full_like(x0, mask_id), x0)
            xt[:, 0] = x0[:, 0]
            exp.update({"xt": xt.reshape(-1).tolist(), "t": lst(t)})
            if algo == "bd3lm":
                logits = model.forward(torch.cat([xt, x0], dim=1), "bdTrain", block_size=b)
                exp["logits_bdtrain"] = lst(logits)
                # Cached sampling: the third block given the first two committed blocks.
                exp["logits_cached_block2"] = lst(model.cached_block_logits(x0[:, : 2 * b], xt[:, 2 * b : 3 * b]))
                exp["logits_blockcausal"] = lst(model.forward(torch.cat([x0[:, : 2 * b], xt[:, 2 * b : 3 * b]], 1), "blockCausal", block_size=b))
            else:
                sigma = -torch.log1p(-t[:, 0]) if algo == "sedd" else None
                logits = model.forward(xt, "full", sigma=sigma)
                exp["logits_full"] = lst(logits)
                if algo == "sedd":
                    exp["sigma"] = lst(sigma)
            if algo != "sedd":
                _, loss = subs_loss(logits, xt, x0, t_tok, mask_id)
                _, eval_loss = subs_loss(logits, xt, x0, t_tok, mask_id, eval_mode=True)
                exp["loss"] = float(loss)
                exp["eval_loss"] = float(eval_loss)
        # Gradients of the training loss (fixed t and masks) with respect to every parameter.
        for v in w.values():
            v.requires_grad_(True)
        if algo == "ar":
            loss = ar_loss(model.forward(x0[:, :-1], "causal"), x0, mask_id)
        elif algo == "bd3lm":
            loss = subs_loss(model.forward(torch.cat([xt, x0], 1), "bdTrain", block_size=b), xt, x0, t_tok, mask_id)[1]
        elif algo == "mdlm":
            loss = subs_loss(model.forward(xt, "full"), xt, x0, t_tok, mask_id)[1]
        else:
            sig_tok = -torch.log1p(-t_tok)
            loss = sedd_loss(model.forward(xt, "full", sigma=sigma), xt, x0, sig_tok, t_tok, mask_id)
            exp["loss"] = float(loss)
        loss.backward()
        write_safetensors(os.path.join(out, "grads.safetensors"), {k: v.grad for k, v in w.items()})
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(exp, f)
        print(f"wrote {out}")


def check(export_dir, inputs_path):
    with open(os.path.join(export_dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(export_dir, "model.safetensors"))
    with open(inputs_path) as f:
        inp = json.load(f)
    ids = torch.tensor(inp["ids"]).reshape(inp["batch"], -1)
    model = Dit(cfg, w)
    logits = model.forward(ids, inp["mode"], block_size=cfg["block_size"])
    print(json.dumps({"logits": lst(logits)}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)
