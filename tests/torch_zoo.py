"""A zoo of small PyTorch architectures, built from their definitions, for issue 15.

Every family is a real architecture a user trains in PyTorch, shrunk to microcontroller
scale (inputs 1x3x32x32 to 1x3x64x64 or 49 MFCC frames, 10k-100k parameters): random
weights (fixed seeds, no downloads, no pretrained weights), BatchNorm running statistics
set by a few training-mode batches of random data, then ``.eval()``.

    from torch_zoo import FAMILIES, build, export_onnx, calibration, heldout
    model, x = build("resnet_stem")
    path = export_onnx("resnet_stem", tmp_dir)                 # TorchScript exporter, opset 17
    path = export_onnx("resnet_stem", tmp_dir, dynamo=True)    # torch.onnx.export's default

The timm families need ``timm`` (``pip install --no-deps timm``; its torchvision import is
served by :func:`install_torchvision_standin`, because the torchvision wheel does not load
against this torch). The structural counts the issue asks about (TRANSPOSEs inside the
network, parameters, CONCATENATION fan-in, activations left unfused) are plain functions
over picojoule's IR at the end of this module, shared by the test and the benchmark.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.machinery
import io
import logging
import math
import sys
import types
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

#: Calibration and held-out set sizes (random, seeded, disjoint seeds).
N_CALIB = 32
N_HELDOUT = 16
OPSET = 17


# ------------------------------------------------------------------------ timm without torchvision
def install_torchvision_standin() -> None:
    """Make ``import torchvision`` work for timm: the real one if it loads, else a stand-in
    in ``sys.modules`` holding only what importing timm touches.

    timm imports torchvision at import time for data transforms and datasets (never used
    here) and for ``torchvision.ops.misc.FrozenBatchNorm2d`` (only in a type check and a
    helper that freezes BatchNorm). A torchvision wheel built for another torch does not
    load (``operator torchvision::nms does not exist``), so install timm with
    ``pip install --no-deps timm`` and let the stand-in serve those names; anything else
    looked up on the transforms modules is a class that refuses to be instantiated, so
    accidental use fails loudly.
    """
    if "torchvision" in sys.modules and getattr(sys.modules["torchvision"], "_pj_standin",
                                                False):
        return
    try:
        import torchvision  # noqa: F401
        return
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError from a mismatched wheel
        for key in [k for k in sys.modules if k == "torchvision" or
                    k.startswith("torchvision.")]:
            del sys.modules[key]
    import torch

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        NEAREST_EXACT = "nearest-exact"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        BOX = "box"
        HAMMING = "hamming"
        LANCZOS = "lanczos"

    class Unavailable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"{type(self).__name__}: torchvision stand-in (tests/torch_zoo.py)")

    class FrozenBatchNorm2d(torch.nn.Module):  # only isinstance() checks reach it
        def __init__(self, num_features: int, eps: float = 1e-5) -> None:
            raise RuntimeError("FrozenBatchNorm2d: torchvision stand-in (tests/torch_zoo.py)")

    def module(name: str, lazy: bool = False, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        # A spec, so importlib.util.find_spec("torchvision") (torch.onnx's dynamo exporter
        # asks it) answers instead of raising; torch.ops.torchvision stays empty.
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        if lazy:  # module-level __getattr__ (PEP 562): transforms.ToTensor and friends
            def __getattr__(attr: str) -> type:
                if attr.startswith("__"):
                    raise AttributeError(attr)
                return type(attr, (Unavailable,), {})
            m.__getattr__ = __getattr__  # type: ignore[attr-defined]
        sys.modules[name] = m
        return m

    datasets = {n: type(n, (Unavailable,), {}) for n in
                ("CIFAR100", "CIFAR10", "MNIST", "KMNIST", "FashionMNIST", "ImageFolder")}
    functional = module("torchvision.transforms.functional", lazy=True,
                        InterpolationMode=InterpolationMode)
    transforms = module("torchvision.transforms", lazy=True, functional=functional,
                        InterpolationMode=InterpolationMode)
    misc = module("torchvision.ops.misc", FrozenBatchNorm2d=FrozenBatchNorm2d)
    ops = module("torchvision.ops", misc=misc)
    ds = module("torchvision.datasets", **datasets)
    module("torchvision", __version__="0.0.0+picojoule-standin", _pj_standin=True,
           transforms=transforms, ops=ops, datasets=ds)


# ------------------------------------------------------------------------------- the families
def _torch():
    import torch

    return torch


def _mnv3_reduced() -> Any:
    """timm MobileNetV3-small blocks (SE with hard-sigmoid gate, hard-swish), one block per
    stage at width 0.5 and a 128-feature head: the mobilenetv3_small_050 recipe, shrunk."""
    install_torchvision_standin()
    from timm.layers import get_act_layer
    from timm.models._efficientnet_blocks import SqueezeExcite
    from timm.models._efficientnet_builder import decode_arch_def, round_channels
    from timm.models.mobilenetv3 import MobileNetV3

    nn = _torch().nn
    arch = [
        ["ds_r1_k3_s2_e1_c16_se0.25_nre"],
        ["ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"],
        ["ir_r1_k5_s2_e4_c40_se0.25", "ir_r1_k5_s1_e6_c40_se0.25"],
        ["ir_r1_k5_s1_e3_c48_se0.25"],
        ["ir_r1_k5_s2_e6_c96_se0.25"],
        ["cn_r1_k1_s1_c288"],
    ]
    se = partial(SqueezeExcite, gate_layer="hard_sigmoid", force_act_layer=nn.ReLU,
                 rd_round_fn=round_channels)
    return MobileNetV3(decode_arch_def(arch), num_classes=10, stem_size=16, fix_stem=True,
                       num_features=128, round_chs_fn=partial(round_channels, multiplier=0.5),
                       norm_layer=nn.BatchNorm2d, act_layer=get_act_layer("hard_swish"),
                       se_layer=se)


def _mnv3_small_050() -> Any:
    """timm ``mobilenetv3_small_050`` exactly as registered (10 classes), at 64x64."""
    install_torchvision_standin()
    import timm

    return timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10)


def _mnv3_small() -> Any:
    """MobileNetV3-small in plain torch, the way timm builds it, at width 0.5 with one block
    per stage: conv stem with hard-swish; depthwise-separable and inverted-residual blocks
    with squeeze-excite (mean, 1x1 conv, ReLU, 1x1 conv, hard-sigmoid gate, multiply),
    ReLU in the early blocks and hard-swish after; 1x1 conv head (hard-swish) and Linear.
    Needs no timm, so CI runs it; the timm_* families are timm's own modules."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def conv_bn(cin: int, cout: int, k: int, s: int = 1, groups: int = 1,
                act: Any = None) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups,
                                       bias=False),
                             nn.BatchNorm2d(cout), act() if act else nn.Identity())

    class SqueezeExcite(nn.Module):
        def __init__(self, c: int, rd: int) -> None:
            super().__init__()
            self.conv_reduce = nn.Conv2d(c, rd, 1)
            self.conv_expand = nn.Conv2d(rd, c, 1)

        def forward(self, x):
            s = self.conv_expand(torch.relu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
            return x * F.hardsigmoid(s)

    class Block(nn.Module):
        """Inverted residual (``mid != cin``) or depthwise-separable (``mid == cin``)."""

        def __init__(self, cin: int, mid: int, cout: int, k: int, s: int, se: bool,
                     act: Any) -> None:
            super().__init__()
            self.pw = conv_bn(cin, mid, 1, act=act) if mid != cin else nn.Identity()
            self.dw = conv_bn(mid, mid, k, s, groups=mid, act=act)
            self.se = SqueezeExcite(mid, max(8, (mid // 4 + 4) // 8 * 8)) if se else \
                nn.Identity()
            self.pwl = conv_bn(mid, cout, 1)
            self.skip = s == 1 and cin == cout

        def forward(self, x):
            y = self.pwl(self.se(self.dw(self.pw(x))))
            return x + y if self.skip else y

    relu, hs = nn.ReLU, nn.Hardswish

    class MobileNetV3Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(3, 16, 3, 2, act=hs)
            self.blocks = nn.Sequential(
                Block(16, 16, 8, 3, 2, True, relu),
                Block(8, 36, 12, 3, 2, False, relu),
                Block(12, 44, 12, 3, 1, False, relu),
                Block(12, 48, 20, 5, 2, True, hs),
                Block(20, 120, 20, 5, 1, True, hs),
                Block(20, 60, 24, 5, 1, True, hs),
                Block(24, 144, 48, 5, 2, True, hs),
                conv_bn(48, 288, 1, act=hs))
            self.conv_head = nn.Conv2d(288, 128, 1)
            self.act = hs()
            self.classifier = nn.Linear(128, 10)

        def forward(self, x):
            x = self.blocks(self.stem(x)).mean((2, 3), keepdim=True)
            return self.classifier(torch.flatten(self.act(self.conv_head(x)), 1))

    return MobileNetV3Small()


def _vit_plain() -> Any:
    """A small vision transformer in plain torch, written like timm's VisionTransformer:
    8x8 patch-embedding conv, class token, learned position embedding, 2 pre-LN blocks
    (LayerNorm, 4-head attention via scaled_dot_product_attention, GELU MLP), final
    LayerNorm, head on the class token. Needs no timm, so CI runs it."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional
    dim, heads, depth = 64, 4, 2

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            x = F.scaled_dot_product_attention(q, k, v)
            return self.proj(x.transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention()
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = nn.Conv2d(3, dim, 8, 8)
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
            return self.head(self.norm(self.blocks(x))[:, 0])

    return ViT()


def _resnet_stem() -> Any:
    """ResNet stem (conv 7x7 s2 + BN + ReLU + max pool 3x3 s2 pad 1) and two basic blocks
    (the second strided, with a 1x1 projection shortcut), global average pool, Linear."""
    torch = _torch()
    nn = torch.nn

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    class ResNetStem(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = Basic(16, 16, 1)
            self.layer2 = Basic(16, 32, 2)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return ResNetStem()


def _vit_tiny() -> Any:
    """timm VisionTransformer: 8x8 patch-embedding conv, class token, learned position
    embedding, 2 pre-LN blocks (LayerNorm, 4-head attention, GELU MLP), LayerNorm head."""
    install_torchvision_standin()
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=10,
                             embed_dim=64, depth=2, num_heads=4, mlp_ratio=2.0,
                             global_pool="token", class_token=True)


def _transformer_encoder() -> Any:
    """nn.TransformerEncoder of 2 nn.TransformerEncoderLayer (d_model 64, 4 heads, FF 128,
    batch_first, post-LN, ReLU) on a (1, 16, 64) sequence, mean over time, Linear."""
    torch = _torch()
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128,
                                               dropout=0.0, batch_first=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # enable_nested_tensor notice
                self.encoder = nn.TransformerEncoder(layer, num_layers=2)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            return self.head(self.encoder(x).mean(dim=1))

    return Encoder()


def _gru_kws() -> Any:
    """Keyword spotting GRU: (1, 49, 10) MFCC frames, GRU(10 -> 64), last step, Linear(12)."""
    nn = _torch().nn

    class GruKws(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(10, 64, batch_first=True)
            self.fc = nn.Linear(64, 12)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    return GruKws()


def _lstm_kws() -> Any:
    """Keyword spotting LSTM: (1, 49, 10) MFCC frames, LSTM(10 -> 64), last step, Linear(12)."""
    nn = _torch().nn

    class LstmKws(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(10, 64, batch_first=True)
            self.fc = nn.Linear(64, 12)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    return LstmKws()


def _unet() -> Any:
    """A two-level U-Net on 1x3x32x32: conv-BN-ReLU pairs, max pool, a nearest nn.Upsample
    and a ConvTranspose2d on the way up with skip concatenations, plus a bilinear
    F.interpolate side path from the bottleneck; 2-class logits per pixel."""
    torch = _torch()
    nn = torch.nn
    F = nn.functional

    def pair(cin: int, cout: int) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1, self.enc2, self.mid = pair(3, 8), pair(8, 16), pair(16, 32)
            self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
            self.dec2 = pair(32 + 16, 16)
            self.up1 = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.dec1 = pair(8 + 8, 8)
            self.side = nn.Conv2d(32, 2, 1)
            self.out = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(F.max_pool2d(e1, 2))
            m = self.mid(F.max_pool2d(e2, 2))
            d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
            side = F.interpolate(self.side(m), scale_factor=4, mode="bilinear",
                                 align_corners=False)
            return self.out(d1) + side

    return UNet()


def _conv1d_kws() -> Any:
    """1-D convolutional keyword net on (1, 10, 49) MFCC (channels = coefficients): three
    Conv1d + BN + ReLU (the second strided), global average pool over time, Linear(12)."""
    torch = _torch()
    nn = torch.nn

    class Conv1dKws(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv1d(10, 32, 3, padding=1, bias=False), nn.BatchNorm1d(32), nn.ReLU(),
                nn.Conv1d(32, 48, 3, stride=2, padding=1, bias=False), nn.BatchNorm1d(48),
                nn.ReLU(),
                nn.Conv1d(48, 64, 3, padding=1, bias=False), nn.BatchNorm1d(64), nn.ReLU())
            self.fc = nn.Linear(64, 12)

        def forward(self, x):
            return self.fc(self.body(x).mean(dim=2))

    return Conv1dKws()


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[], Any]
    input_shape: tuple[int, ...]
    #: Which issue-15 architecture this is (a)-(h).
    kind: str
    needs_timm: bool = False
    #: Part of the CI zoo (tests/test_torch_zoo.py); the others only in the benchmark.
    in_ci: bool = True


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mnv3_small", _mnv3_small, (1, 3, 64, 64), "a: MobileNetV3-small (SE, hard-swish), "
           "plain torch as timm builds it, width 0.5"),
    Family("timm_mnv3_reduced", _mnv3_reduced, (1, 3, 64, 64), "a: timm MobileNetV3 "
           "(mobilenetv3_small_050 blocks, one per stage)", needs_timm=True, in_ci=False),
    Family("timm_mobilenetv3_small_050", _mnv3_small_050, (1, 3, 64, 64),
           "a: timm mobilenetv3_small_050 as registered (578k params)", needs_timm=True,
           in_ci=False),
    Family("resnet_stem", _resnet_stem, (1, 3, 64, 64), "b: ResNet stem + 2 basic blocks"),
    Family("vit_tiny", _vit_plain, (1, 3, 32, 32), "c: vision transformer, plain torch "
           "as timm writes it"),
    Family("timm_vit_tiny", _vit_tiny, (1, 3, 32, 32), "c: timm VisionTransformer",
           needs_timm=True, in_ci=False),
    Family("transformer_encoder", _transformer_encoder, (1, 16, 64),
           "d: nn.TransformerEncoderLayer x2"),
    Family("gru_kws", _gru_kws, (1, 49, 10), "e: GRU keyword model"),
    Family("lstm_kws", _lstm_kws, (1, 49, 10), "f: LSTM keyword model"),
    Family("unet", _unet, (1, 3, 32, 32), "g: U-Net, nearest/bilinear upsampling, "
           "ConvTranspose2d"),
    Family("conv1d_kws", _conv1d_kws, (1, 10, 49), "h: Conv1d keyword net"),
)}


def family_names(ci_only: bool = False) -> list[str]:
    return [n for n, f in FAMILIES.items() if f.in_ci or not ci_only]


def _seed_of(name: str) -> int:
    """A seed per family, stable when families are added or reordered."""
    return 1000 + zlib.crc32(name.encode()) % 100_000


def build(name: str) -> tuple[Any, Any]:
    """The ``name`` family in eval mode with seeded weights, and its example input (seeded).

    BatchNorm running statistics come from 4 training-mode forward passes on random
    batches (momentum None: their plain average), so folding them is not the identity.
    """
    torch = _torch()
    fam = FAMILIES[name]
    torch.manual_seed(_seed_of(name))
    model = fam.build()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    g = torch.Generator().manual_seed(_seed_of(name) + 1)
    with torch.no_grad():
        for m in bns:  # affine parameters away from 1/0, so the fold does some work
            m.momentum = None
            m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
        if bns:
            model.train()
            for _ in range(4):
                model(torch.randn((8, *fam.input_shape[1:]), generator=g))
    model.eval()
    x = torch.randn(fam.input_shape, generator=torch.Generator().manual_seed(_seed_of(name) + 2))
    return model, x


def torch_params(model: Any) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return int(sum(p.numel() for p in model.parameters()))


# ------------------------------------------------------------------------------------- data
def calibration(name: str, n: int = N_CALIB) -> np.ndarray:
    """``n`` seeded standard-normal samples shaped ``[n, *input_shape]`` (float32)."""
    shape = FAMILIES[name].input_shape
    rng = np.random.default_rng(_seed_of(name) * 7 + 1)
    return rng.standard_normal((n, *shape)).astype(np.float32)


def heldout(name: str, n: int = N_HELDOUT) -> np.ndarray:
    """A held-out set from another seed (same distribution as the calibration data)."""
    shape = FAMILIES[name].input_shape
    rng = np.random.default_rng(_seed_of(name) * 7 + 2)
    return rng.standard_normal((n, *shape)).astype(np.float32)


def torch_outputs(model: Any, xs: np.ndarray) -> np.ndarray:
    """The torch model's output on each sample of ``xs`` ([N, 1, ...]), stacked."""
    torch = _torch()
    with torch.no_grad():
        return np.stack([model(torch.from_numpy(x)).numpy() for x in xs])


# ------------------------------------------------------------------------------------ export
def export_onnx(name: str, out_dir: str | Path, dynamo: bool = False,
                model_and_input: tuple[Any, Any] | None = None) -> Path:
    """Export the family to ``out_dir``/``name``[_dynamo].onnx and return the path.

    ``dynamo=False``: ``torch.onnx.export(model, x, path, opset_version=17, dynamo=False)``.
    ``dynamo=True``: torch.onnx.export's defaults (the torch.export-based exporter, its
    recommended opset, ``external_data=True``: weights may go to ``<path>.data``).
    """
    torch = _torch()
    model, x = model_and_input or build(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (f"{name}_dynamo.onnx" if dynamo else f"{name}.onnx")
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(model, (x,), str(path), opset_version=OPSET, dynamo=False,
                              input_names=["x"], output_names=["y"])
    return path


@contextlib.contextmanager
def _quiet():
    """The dynamo exporter prints progress lines on stdout; keep them out of reports."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield


def onnx_external_files(path: str | Path) -> list[str]:
    """The external data files an ONNX model references (empty when all weights are inline)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    files = set()
    for t in proto.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            files.update(e.value for e in t.external_data if e.key == "location")
    return sorted(files)


def onnx_opset(path: str | Path) -> int | None:
    """The default-domain opset an ONNX file declares."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                None)


def ort_session(path: str | Path) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_outputs(path: str | Path, xs: np.ndarray) -> np.ndarray:
    """ONNX Runtime's first output on each sample of ``xs``, stacked."""
    sess = ort_session(path)
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: x})[0] for x in xs])


def ort_quantize_static(path: str | Path, calib: np.ndarray, out: str | Path) -> Path:
    """ONNX Runtime's static int8 quantization: QDQ, per-channel int8 weights, int8
    activations, MinMax calibration on ``calib`` (the same samples picojoule calibrates on).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    sess = ort_session(path)
    name = sess.get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: c} for c in calib])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" and per-bias notices
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
    finally:
        root.setLevel(level)
    return Path(out)


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``got`` against ``ref`` over all elements (dB)."""
    ref = np.asarray(ref, np.float64).reshape(-1)
    got = np.asarray(got, np.float64).reshape(-1)
    noise = float(np.sum((ref - got) ** 2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(float(np.sum(ref ** 2)), 1e-300) / noise)


# ------------------------------------------------------------------ structural counts on the IR
#: Ops that convert, relabel or pad data without mixing layouts: looked through when deciding
#: what is "at the edge" (an ONNX conv's explicit PAD can sit before the input TRANSPOSE).
_EDGE_OPS = {"QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "PAD", "PADV2"}
_RESHAPE_LIKE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
_ACTIVATIONS = {"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"}
_FUSIBLE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def _producers(graph: Any) -> dict[int, Any]:
    return {id(v): n for n in graph.nodes for v in n.outputs}


def _consumers(graph: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for n in graph.nodes:
        for v in n.inputs:
            if v is not None:
                out.setdefault(id(v), []).append(n)
    return out


def _is_const(v: Any) -> bool:
    return v is not None and getattr(v, "data", None) is not None


def inner_transposes(graph: Any) -> int:
    """TRANSPOSE nodes inside the network: not reached from a graph input, nor reaching a
    graph output, through data-movement-only ops (QUANTIZE/DEQUANTIZE/RESHAPE...) alone.
    The NCHW -> NHWC transpose an ONNX model keeps at its input is at the edge."""
    prod, cons = _producers(graph), _consumers(graph)
    ins = {id(v) for v in graph.inputs}
    outs = {id(v) for v in graph.outputs}

    def from_input(v: Any) -> bool:
        while True:
            if id(v) in ins:
                return True
            n = prod.get(id(v))
            if n is None or n.op not in _EDGE_OPS:
                return False
            v = n.inputs[0]

    def to_output(v: Any) -> bool:
        seen = 0
        while seen < 64:
            if id(v) in outs:
                return True
            users = cons.get(id(v), [])
            if len(users) != 1 or users[0].op not in _EDGE_OPS:
                return False
            v = users[0].outputs[0]
            seen += 1
        return False

    return sum(1 for n in graph.nodes if n.op == "TRANSPOSE"
               and not from_input(n.inputs[0]) and not to_output(n.outputs[0]))


def param_count(graph: Any) -> int:
    """Elements of the constant tensors that ops read as data (weights, biases, tables);
    shape, permutation and axis operands of data-movement ops are not parameters. Each
    constant tensor counts once however many ops read it."""
    shape_operand = {"RESHAPE": (1,), "TRANSPOSE": (1,), "PAD": (1,), "PADV2": (1,),
                     "MEAN": (1,), "SUM": (1,), "REDUCE_MAX": (1,), "REDUCE_MIN": (1,),
                     "STRIDED_SLICE": (1, 2, 3), "SLICE": (1, 2), "GATHER": (1,),
                     "RESIZE_NEAREST_NEIGHBOR": (1,), "RESIZE_BILINEAR": (1,),
                     "EXPAND_DIMS": (1,), "TILE": (1,), "SPLIT": (0,), "SPLIT_V": (1, 2),
                     "BROADCAST_TO": (1,), "TRANSPOSE_CONV": (0,), "FILL": (0,)}
    seen: dict[int, int] = {}
    for n in graph.nodes:
        skip = shape_operand.get(n.op, ())
        for i, v in enumerate(n.inputs):
            if _is_const(v) and i not in skip:
                seen[id(v)] = int(np.prod(v.shape)) if v.shape else 1
    return int(sum(seen.values()))


def max_concat_inputs(graph: Any) -> int:
    return max((len(n.inputs) for n in graph.nodes if n.op == "CONCATENATION"), default=0)


def unfused_activations(graph: Any) -> int:
    """Standalone RELU-family nodes fed (through reshapes only) by a conv / FC whose own
    fused activation is NONE: the activation could have been fused but was not."""
    prod = _producers(graph)
    count = 0
    for n in graph.nodes:
        if n.op not in _ACTIVATIONS:
            continue
        p = prod.get(id(n.inputs[0]))
        while p is not None and p.op in _RESHAPE_LIKE:
            p = prod.get(id(p.inputs[0]))
        if p is not None and p.op in _FUSIBLE and \
                p.attrs.get("fused_activation_function", "NONE") == "NONE":
            count += 1
    return count


def op_histogram(graph: Any) -> dict[str, int]:
    hist: dict[str, int] = {}
    for n in graph.nodes:
        hist[n.op] = hist.get(n.op, 0) + 1
    return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


def structure(graph: Any) -> dict[str, Any]:
    """The counts issue 15 cares about, for one graph."""
    return {"ops": len(graph.nodes), "inner_transposes": inner_transposes(graph),
            "params": param_count(graph), "max_concat_inputs": max_concat_inputs(graph),
            "unfused_activations": unfused_activations(graph),
            "op_histogram": op_histogram(graph)}


def first_line(exc: BaseException | str) -> str:
    """The first non-empty line of an error, prefixed with its type for exceptions."""
    text = str(exc) if not isinstance(exc, BaseException) else (
        f"{type(exc).__name__}: {exc}")
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return text[:300]


def nhwc(x: np.ndarray, shape: Sequence[int] | None = None) -> np.ndarray:
    """A sample in ONNX's layout in picojoule's: channels last where the imported model's
    input ``shape`` says so (4-D images NHWC and a 1-D convolution's (N, C, L) input
    (N, L, C): the default of ``load_model`` and every command); without ``shape``, 4-D
    samples NHWC and other ranks unchanged."""
    if shape is None:
        return np.ascontiguousarray(np.moveaxis(x, -3, -1)) if x.ndim >= 4 else x
    if tuple(x.shape) == tuple(shape) or x.ndim < 3:
        return x
    last = np.moveaxis(x, 1, -1)
    return np.ascontiguousarray(last) if last.shape == tuple(shape) else x


def model_layout(y: np.ndarray, rank: int) -> np.ndarray:
    """ONNX Runtime's value of a rank-``rank`` output in picojoule's layout (4-D outputs are
    NHWC), to compare with picojoule's; ``y`` may carry extra leading (sample) axes."""
    return np.ascontiguousarray(np.moveaxis(y, -3, -1)) if rank == 4 else y


def onnx_layout(y: np.ndarray, rank: int) -> np.ndarray:
    """The inverse of :func:`model_layout`: a picojoule output in ONNX's layout."""
    return np.ascontiguousarray(np.moveaxis(y, -1, -3)) if rank == 4 else y


def as_feeds(xs: np.ndarray | Sequence[np.ndarray], graph: Any = None) -> list[list[np.ndarray]]:
    """Samples [N, *input_shape] (ONNX layout) as a list of single-input feeds in the layout
    of ``graph``'s input (picojoule's, see :func:`nhwc`)."""
    shape = graph.inputs[0].shape if graph is not None else None
    return [[nhwc(np.ascontiguousarray(x), shape)] for x in xs]
