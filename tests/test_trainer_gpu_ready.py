"""GPU-ready training, exercised on the CPU: gradient accumulation equals one large batch (float64), bf16
autocast keeps the parameters float32, channels_last and micro_batch, the throughput in the metrics."""

from __future__ import annotations

import json
import math

import pytest
import torch

from pfgm.modalities.base import EncodedDataset
from pfgm.modalities.images.ddpmpp import DDPMpp
from pfgm.core.distributed import DistInfo
from pfgm.core.kernel import PFGMKernel
from pfgm.core.loss import PFGMLoss
from pfgm.core.precond import Denoiser
from pfgm.core.trainer import Trainer, TrainerConfig

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), is_main=True)


def _trainer(dtype=torch.float32, run_dir=None, **cfg) -> Trainer:
    torch.manual_seed(0)
    net = DDPMpp(
        in_channels=3, image_size=8, model_channels=16, channel_mult=(1, 2), num_blocks=1, attn_resolutions=(4,), dropout=0.0
    )
    den = Denoiser(net, sigma_data=0.5).to(dtype)
    g = torch.Generator().manual_seed(1)
    data = EncodedDataset((torch.rand(32, 3, 8, 8, generator=g) * 2 - 1).to(dtype))
    tc = TrainerConfig(batch_size=8, lr=1e-3, warmup_steps=0, progress=False, log_every=1, ckpt_every=0, **cfg)
    return Trainer(den, PFGMLoss(PFGMKernel(128.0)), data, tc, CPU, run_dir)


def _params(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in t.model.state_dict().items()}


@pytest.mark.parametrize("split", [dict(grad_accum=4), dict(micro_batch=2), dict(grad_accum=2)])
def test_accumulation_gives_the_update_of_one_large_batch_in_float64(split):
    whole, parts = _trainer(torch.float64), _trainer(torch.float64, **split)
    assert parts.accum == (4 if split.get("grad_accum") == 4 or "micro_batch" in split else 2)
    for _ in range(2):
        loss_whole, loss_parts = whole.train_step(), parts.train_step()
        assert float(loss_whole) == pytest.approx(float(loss_parts), rel=1e-6)
    a, b = _params(whole), _params(parts)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-10, worst
    moved = max(float((a[k] - _trainer(torch.float64).model.state_dict()[k]).abs().max()) for k in a)
    assert moved > 1e-4  # the steps did update the weights: the comparison is not of two untouched nets
    ema_a, ema_b = whole.ema.model.state_dict(), parts.ema.model.state_dict()
    assert max(float((ema_a[k] - ema_b[k]).abs().max()) for k in ema_a) <= 1e-10


def test_micro_batch_must_divide_the_per_device_batch():
    with pytest.raises(ValueError, match=r"trainer.batch_size=8 must be divisible by world_size×micro_batch = 1×3"):
        _trainer(micro_batch=3)
    with pytest.raises(ValueError, match=r"trainer.micro_batch must be ≥ 1"):
        TrainerConfig.from_dict({"micro_batch": 0})


def test_bf16_autocast_keeps_parameters_optimiser_state_and_ema_float32():
    t = _trainer(bf16=True)
    seen = []
    hook = t.model.backbone.conv_in.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    for _ in range(2):
        loss = t.train_step()
    hook.remove()
    assert seen and all(d == torch.bfloat16 for d in seen)  # the convolutions did run in bf16
    assert math.isfinite(float(loss))
    assert all(p.dtype == torch.float32 for p in t.model.parameters())
    assert all(p.dtype == torch.float32 for p in t.ema.model.parameters())
    states = [v for s in t.opt.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0]
    assert states and all(v.dtype == torch.float32 for v in states)


def test_channels_last_trains_the_same_network():
    plain, nhwc = _trainer(), _trainer(channels_last=True)
    assert nhwc.model.backbone.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    for _ in range(2):
        a, b = plain.train_step(), nhwc.train_step()
    assert float(a) == pytest.approx(float(b), rel=1e-4)
    pa, pb = _params(plain), _params(nhwc)
    assert max(float((pa[k] - pb[k]).abs().max()) for k in pa) < 1e-4


def test_throughput_is_logged_as_images_per_second_and_kimg_per_day(tmp_path):
    t = _trainer(run_dir=tmp_path, max_steps=2)
    t.fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(r["samples_per_s"] > 0 and r["kimg_per_day"] == pytest.approx(r["samples_per_s"] * 86.4) for r in rows)
