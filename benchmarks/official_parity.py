"""Parity with the official PFGM++ implementation (Newbeeer/pfgmpp), read from a local checkout.

    python benchmarks/official_parity.py --official PATH_TO_PFGMPP_CHECKOUT [--repeats 7] [--threads 2]

Nothing of the official code is copied here: it is imported from PATH at run time (with small shims so it
imports on a CPU-only machine and runs in float64: its module's ``torch.float32`` is read as float64 while
the parity checks run). Measured, on the CIFAR-10 network of recipe cifar10 (DDPM++, augment_dim 9):

1. parameter counts, ours and theirs;
2. a weight mapping from their state dict into ours (module by module in construction order; their
   interleaved q,k,v rows reordered into our q-block, k-block, v-block), after which both denoisers give
   the same output on the same input, σ and augmentation label: max |Δ| in float64 over σ ∈ [0.002, 80];
3. the PFGM++ loss on the same batch and the same noise draw (theirs draws it; ours is given the σ and the
   perturbation their loss fed its network) for D ∈ {128, 2048, ∞}: max relative difference per sample;
4. speed, float32, ``--threads`` threads, batch 8 at 32×32: one training step (forward, backward, Adam,
   EMA; ours is :meth:`Trainer.train_step`, theirs the body of their training loop around their loss) and
   one sampling NFE (a denoiser call), as medians of interleaved runs; ratios are ours / theirs.

The last line printed is JSON with params_ours, params_official, max_abs_denoiser_diff, max_rel_loss_diff,
step_time_ratio and nfe_time_ratio; the full record goes to benchmarks/results/official_parity.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pfgm.core.distributed import DistInfo  # noqa: E402
from pfgm.core.kernel import PFGMKernel  # noqa: E402
from pfgm.core.loss import PFGMLoss  # noqa: E402
from pfgm.core.trainer import Trainer, TrainerConfig  # noqa: E402
from pfgm.recipes.build import make_denoiser, make_modality  # noqa: E402
from pfgm.recipes.cli import compose  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "official_parity.json"
CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), is_main=True)


# -- importing the official code ------------------------------------------------------------------------


def _shim_missing_modules() -> None:
    """Stand-ins for what their utility modules import but the network and loss never use (absent on some
    Pythons: distutils left the standard library in 3.12; requests is a download helper)."""
    try:
        import distutils.util  # noqa: F401
    except ImportError:
        util = types.ModuleType("distutils.util")
        util.strtobool = lambda v: int(str(v).lower() in ("y", "yes", "t", "true", "on", "1"))
        pkg = types.ModuleType("distutils")
        pkg.util = util
        sys.modules.update({"distutils": pkg, "distutils.util": util})
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")


def import_official(path: Path):
    """Their training.networks and training.loss modules, imported from the checkout at ``path``."""
    if not (path / "training" / "networks.py").is_file():
        raise SystemExit(f"{path}: not a Newbeeer/pfgmpp checkout (no training/networks.py)")
    _shim_missing_modules()
    sys.path.insert(0, str(path))
    import training.loss as loss
    import training.networks as networks

    return networks, loss


class _Float64Torch:
    """``torch`` with float32 read as float64: their networks cast inputs to float32 explicitly; under this
    stand-in the same code runs in float64 end to end (for the parity checks only)."""

    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


@contextlib.contextmanager
def official_in_float64(networks):
    saved = networks.torch
    networks.torch = _Float64Torch()
    try:
        yield
    finally:
        networks.torch = saved


def official_net(networks, D: float, cfg: dict) -> torch.nn.Module:
    """Their EDMPrecond around SongUNet, configured as their train.py does for --arch=ddpmpp, with our recipe's sizes."""
    b = cfg["backbone"]
    return networks.EDMPrecond(
        img_resolution=32,
        img_channels=3,
        label_dim=0,
        pfgmpp=not math.isinf(D),
        D=2048 if math.isinf(D) else int(D),
        use_fp16=False,
        sigma_data=0.5,
        model_type="SongUNet",
        embedding_type="positional",
        encoder_type="standard",
        decoder_type="standard",
        channel_mult_noise=1,
        resample_filter=[1, 1],
        model_channels=b["model_channels"],
        channel_mult=list(b["channel_mult"]),
        num_blocks=b["num_blocks"],
        attn_resolutions=list(b["attn_resolutions"]),
        dropout=b["dropout"],
        augment_dim=9,
    )


# -- our network and the weight mapping ------------------------------------------------------------------


def our_denoiser(cfg: dict) -> torch.nn.Module:
    modality = make_modality({**cfg["modality"], "root": "/nonexistent", "download": False})  # shape is known without data
    return make_denoiser(modality, cfg["backbone"], 0.5)


def map_official_state(official: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Their EDMPrecond's state → our Denoiser's state. Blocks map in construction order (their ModuleDict
    names → our enc/dec lists); their qkv rows are (channel, q|k|v) interleaved, ours q, k, v blocks."""
    model = official.model
    out: dict[str, torch.Tensor] = {}

    def put(prefix: str, module: torch.nn.Module) -> None:
        for k, v in module.state_dict().items():
            if k.endswith("resample_filter"):
                continue  # a fixed [1, 1] box filter buffer: our avg-pool / nearest doubling
            v = v.detach().clone()
            if k.startswith("qkv."):
                c3 = v.shape[0]
                v = v.reshape(c3 // 3, 3, *v.shape[1:]).transpose(0, 1).reshape(c3, *v.shape[1:])
            out[f"backbone.{prefix}.{k}"] = v

    for name in ("map_augment", "map_layer0", "map_layer1", "map_label"):
        if getattr(model, name, None) is not None:
            put(name, getattr(model, name))
    enc = [n for n in model.enc if "aux" not in n]
    put("conv_in", model.enc[enc[0]])
    for i, n in enumerate(enc[1:]):
        put(f"enc.{i}", model.enc[n])
    dec = [n for n in model.dec if "aux" not in n]
    for i, n in enumerate(dec):
        put(f"dec.{i}", model.dec[n])
    norm = [n for n in model.dec if n.endswith("aux_norm")]
    conv = [n for n in model.dec if n.endswith("aux_conv")]
    put("norm_out", model.dec[norm[-1]])
    put("conv_out", model.dec[conv[-1]])
    return out


def randomize(net: torch.nn.Module, seed: int = 1) -> None:
    """Every parameter drawn at an O(1)-output scale (weights N(0, 1/fan_in), biases and norm affines near
    their neutral values), so the network's own output F, not the skip term, dominates the denoiser."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.dim() >= 2:
                p.copy_(r / math.sqrt(p[0].numel()))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * r)
            else:
                p.copy_(0.1 * r)


# -- the checks -------------------------------------------------------------------------------------------


def denoiser_diff(networks, ours: torch.nn.Module, theirs: torch.nn.Module) -> float:
    g = torch.Generator().manual_seed(0)
    sigma = torch.tensor([0.002, 0.05, 0.5, 2.0, 10.0, 80.0], dtype=torch.float64)
    B = len(sigma)
    y = torch.rand(B, 3, 32, 32, generator=g, dtype=torch.float64) * 2 - 1
    x = y + sigma.view(-1, 1, 1, 1) * torch.randn(y.shape, generator=g, dtype=torch.float64)
    aug = torch.randn(B, 9, generator=g, dtype=torch.float64)
    with torch.no_grad(), official_in_float64(networks):
        a = ours(x, sigma, cond=aug)
        b = theirs(x, sigma, None, augment_labels=aug)
        F = ours.backbone(x / (sigma.view(-1, 1, 1, 1) ** 2 + 0.25).sqrt(), sigma.log() / 4, cond=aug)
    print(f"denoiser check: |F| mean {float(F.abs().mean()):.3g} (the net's own output, not only c_skip·x)", file=sys.stderr)
    return float((a - b).abs().max())


class _Recorder(torch.nn.Module):
    """Their network, remembering the noisy input and σ their loss gave it."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x, sigma, labels=None, augment_labels=None):
        self.seen.append((x.detach().clone(), sigma.detach().clone()))
        return self.net(x, sigma, labels, augment_labels=augment_labels)


def loss_diff(networks, official_loss, ours: torch.nn.Module, theirs: torch.nn.Module, D: float, seed: int) -> float:
    """Their EDMLoss draws σ and the perturbation; ours is evaluated at the same σ and perturbation."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    y = torch.rand(8, 3, 32, 32, dtype=torch.float64) * 2 - 1
    fn = official_loss.EDMLoss(
        P_mean=-1.2,
        P_std=1.2,
        sigma_data=0.5,
        D=2048 if math.isinf(D) else int(D),
        N=3072,
        opts=types.SimpleNamespace(lsun=False),
    )
    rec = _Recorder(theirs)
    with torch.no_grad(), official_in_float64(networks), contextlib.redirect_stdout(None):
        theirs_loss = fn(net=rec, images=y, labels=None, augment_pipe=None, pfgmpp=not math.isinf(D))
        x, sigma = rec.seen[0]
        mine = PFGMLoss(PFGMKernel(D), sigma_data=0.5)(ours, y, sigma=sigma.reshape(-1), noise=x - y)
    theirs_per_sample = theirs_loss.reshape(8, -1).mean(1)
    return float(((mine - theirs_per_sample).abs() / theirs_per_sample.abs()).max())


# -- speed ----------------------------------------------------------------------------------------------


def official_step(
    net,
    ema,
    loss_fn,
    opt,
    images: torch.Tensor,
    cur_nimg: int,
    lr: float = 1e-3,
    rampup_kimg: float = 10_000,
    ema_halflife_kimg: float = 500,
    rampup_ratio: float = 0.05,
) -> None:
    """One iteration of their training loop (accumulation round of one, no DDP on the CPU), around their loss."""
    B = images.shape[0]
    opt.zero_grad(set_to_none=True)
    with contextlib.redirect_stdout(None):
        loss = loss_fn(net=net, images=images, labels=None, augment_pipe=None, pfgmpp=True)
    loss.sum().mul(1.0 / B).backward()
    for group in opt.param_groups:
        group["lr"] = lr * min(cur_nimg / max(rampup_kimg * 1000, 1e-8), 1)
    for p in net.parameters():
        if p.grad is not None:
            torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
    opt.step()
    halflife = min(ema_halflife_kimg * 1000, cur_nimg * rampup_ratio)
    beta = 0.5 ** (B / max(halflife, 1e-8))
    with torch.no_grad():
        for p_ema, p_net in zip(ema.parameters(), net.parameters()):
            p_ema.copy_(p_net.detach().lerp(p_ema, beta))


def timings(networks, official_loss, cfg: dict, repeats: int, batch: int = 8) -> dict[str, float]:
    torch.manual_seed(0)
    u8 = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    # ours: the trainer on the recipe's network and settings (no augmentation pipeline on either side)
    den = our_denoiser(cfg)
    tc = {**cfg["trainer"], "batch_size": batch, "progress": False, "num_workers": 0}
    from pfgm.modalities.images.stored import StoredImages

    trainer = Trainer(den, PFGMLoss(PFGMKernel(2048.0), sigma_data=0.5), StoredImages(u8), TrainerConfig.from_dict(tc), CPU, None)
    trainer.model.train()
    # theirs
    net = official_net(networks, 2048.0, cfg).train().requires_grad_(True)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    with contextlib.redirect_stdout(None):
        loss_fn = official_loss.EDMLoss(D=2048, N=3072, opts=types.SimpleNamespace(lsun=False))
    images = u8[:batch].float() / 127.5 - 1
    x = torch.randn(batch, 3, 32, 32)
    sigma = torch.full((batch,), 1.0)
    ema_ours = trainer.ema.model

    def step_ours():
        trainer.train_step()

    nimg = [batch * 1000]

    def step_theirs():
        official_step(net, ema, loss_fn, opt, images, nimg[0])
        nimg[0] += batch

    def nfe_ours():
        with torch.no_grad():
            ema_ours(x, sigma)

    def nfe_theirs():
        with torch.no_grad():
            ema(x, sigma, None)

    out = {}
    for name, a, b in (("step", step_ours, step_theirs), ("nfe", nfe_ours, nfe_theirs)):
        for f in (a, b, a, b):  # warm-up: allocator, first-call costs
            f()
        ta, tb = [], []
        for r in range(repeats):
            order = ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta))
            for f, times in order:
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
        out[f"{name}_seconds_ours"] = statistics.median(ta)
        out[f"{name}_seconds_official"] = statistics.median(tb)
        out[f"{name}_time_ratio"] = statistics.median(ta) / statistics.median(tb)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", required=True, type=Path, help="a local checkout of Newbeeer/pfgmpp")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing runs per side (medians)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--no-timing", action="store_true", help="parity only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    networks, official_loss = import_official(args.official.expanduser().resolve())
    cfg = compose("train", ["recipe=cifar10"])

    torch.manual_seed(0)
    theirs = official_net(networks, 2048.0, cfg)
    randomize(theirs)  # at initialisation F ≈ 1e-5·(…): the comparison would only see c_skip·x
    ours = our_denoiser(cfg)
    params_ours = sum(p.numel() for p in ours.parameters())
    params_official = sum(p.numel() for p in theirs.parameters())
    mapped = map_official_state(theirs)
    ours.load_state_dict(mapped, strict=True)  # every tensor of ours is given, none left over
    ours64, theirs64 = copy.deepcopy(ours).double().eval(), copy.deepcopy(theirs).double().eval()
    d_diff = denoiser_diff(networks, ours64, theirs64)
    losses = {
        str(D): loss_diff(networks, official_loss, ours64, theirs64, D, seed=i) for i, D in enumerate((128.0, 2048.0, math.inf))
    }
    print(f"parameters: ours {params_ours:,}, official {params_official:,}", file=sys.stderr)
    print(f"denoiser max |diff| (float64): {d_diff:.3g}; loss max rel diff by D: {losses}", file=sys.stderr)

    record = dict(
        what="our CIFAR-10 DDPM++ denoiser and PFGM++ loss against the official Newbeeer/pfgmpp code: "
        "parameters, denoiser outputs after the weight mapping (float64), the loss on the same batch and noise "
        "draw by D, and float32 time per training step and per NFE (batch 8, 32x32; ratios ours / official)",
        params_ours=params_ours,
        params_official=params_official,
        max_abs_denoiser_diff=d_diff,
        max_rel_loss_diff=max(losses.values()),
        rel_loss_diff_by_D=losses,
    )
    if not args.no_timing:
        t = timings(networks, official_loss, cfg, args.repeats)
        record.update(t)
        print(
            f"train step: ours {t['step_seconds_ours']:.3f} s, official {t['step_seconds_official']:.3f} s; "
            f"NFE: ours {t['nfe_seconds_ours']:.3f} s, official {t['nfe_seconds_official']:.3f} s",
            file=sys.stderr,
        )
    commit = subprocess.run(["git", "-C", str(args.official), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record.update(
        official_commit=commit or None,
        threads=args.threads,
        batch=8,
        resolution=32,
        repeats=args.repeats,
        torch=torch.__version__,
        machine=platform.machine(),
        command=f"python benchmarks/official_parity.py --official PATH --repeats {args.repeats} --threads {args.threads}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    keys = ("params_ours", "params_official", "max_abs_denoiser_diff", "max_rel_loss_diff", "step_time_ratio", "nfe_time_ratio")
    print(json.dumps({k: record.get(k) for k in keys}))


if __name__ == "__main__":
    main()
