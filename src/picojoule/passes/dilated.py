"""Dilated convolutions back in one op: SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND.

TensorFlow lowers a dilated convolution (``Conv2D(dilation_rate=d)``, a causal dilated
``Conv1D``, atrous MobileNet blocks) to three ops: SPACE_TO_BATCH_ND moves every d-th pixel
into its own batch (padding the image), an undilated VALID convolution runs on each, and
BATCH_TO_SPACE_ND interleaves the results and crops. The converter keeps that form. It
costs two full copies of the activations and, in TFLM, is wrong: TFLM's SPACE_TO_BATCH_ND
never initialises its pad value, so padded taps read stale arena bytes (picojoule's
reference pads with the zero point, as LiteRT does).

:class:`FuseDilatedConv` turns the three ops into one CONV_2D or DEPTHWISE_CONV_2D with
``dilation = d``, when that is the same computation: a batch of one, the block the same
along both axes (or a 1-D dilation), the conv VALID with stride 1, and the pads and crops
equal to what the dilated convolution's own SAME or VALID padding does (the first output
pixel at the same input offset, as many outputs), and not hybrid (LiteRT quantizes a hybrid
conv's input per batch, so the space-to-batch batches have their own scales). Padded taps read the zero point either
way, so every output is the same integer (or float). The block and crops tensors may be
shared; the pass only rewrites when the intermediate tensors have no other reader.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Graph, Model, Node, Value
from picojoule.passes.base import Pass, PassResult

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _const(node: Node, i: int) -> np.ndarray | None:
    v = node.input(i)
    return None if v is None or not v.is_const else np.asarray(v.data).astype(np.int64)


def _sole_user(g: Graph, node: Node) -> Node | None:
    out = node.outputs[0]
    if any(o is out for o in g.outputs):
        return None
    users = out.uses()
    return users[0][0] if len(users) == 1 and users[0][1] == 0 else None


def _paddings(size: int, k: int, d: int, pad_before: int, crop_before: int,
              out: int) -> set[str]:
    """The paddings ("SAME", "VALID") with which a stride-1 dilated conv computes the same
    window positions along one axis as the pad / crop pair (both, for a 1-tap axis)."""
    k_eff = (k - 1) * d + 1
    offset = pad_before - crop_before  # where the first window starts, in input rows
    names = set()
    if offset == (k_eff - 1) // 2 and out == size:
        names.add("SAME")
    if offset == 0 and out == size - k_eff + 1:
        names.add("VALID")
    return names


def _hybrid(conv: Node) -> bool:
    """Float activations with integer weights: LiteRT quantizes each space-to-batch batch
    on its own (its own input scale), so one dilated conv would compute something else."""
    x, w = conv.inputs[0], conv.input(1)
    return x is not None and x.dtype == "float32" and w is not None and w.dtype != "float32"


def _same_quant(a, b) -> bool:
    if a.quant is None or b.quant is None:
        return a.quant is None and b.quant is None and a.dtype == b.dtype
    return (a.dtype == b.dtype and a.quant.scale.size == b.quant.scale.size == 1
            and np.float32(a.quant.scale0) == np.float32(b.quant.scale0)
            and a.quant.zp0 == b.quant.zp0)


class FuseDilatedConv(Pass):
    """Fold SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND into one
    dilated convolution where the two compute the same (see the module doc)."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            for s2b in [n for n in g.nodes if n.op == "SPACE_TO_BATCH_ND"]:
                if s2b in g.nodes:
                    changed |= self._fuse(g, s2b)
        return PassResult(model, changed)

    @staticmethod
    def _fuse(g: Graph, s2b: Node) -> bool:
        conv = _sole_user(g, s2b)
        if conv is not None and conv.op == "EXPAND_DIMS":
            return FuseDilatedConv._fuse_1d(g, s2b, conv)
        if conv is None or conv.op not in _CONVS or _hybrid(conv):
            return False
        b2s = _sole_user(g, conv)
        if b2s is None or b2s.op != "BATCH_TO_SPACE_ND":
            return False
        x, y = s2b.inputs[0], b2s.outputs[0]
        block, pads = _const(s2b, 1), _const(s2b, 2)
        block2, crops = _const(b2s, 1), _const(b2s, 2)
        if any(a is None for a in (block, pads, block2, crops)):
            return False
        block, block2 = block.reshape(-1), block2.reshape(-1)
        pads, crops = pads.reshape(-1, 2), crops.reshape(-1, 2)
        a = conv.attrs
        if (len(x.shape) != 4 or x.shape[0] != 1 or len(y.shape) != 4
                or block.tolist() != block2.tolist() or len(block) != 2
                or pads.shape != (2, 2) or crops.shape != (2, 2)
                or a.get("padding") != "VALID"
                or int(a.get("stride_h", 1)) != 1 or int(a.get("stride_w", 1)) != 1
                or int(a.get("dilation_h_factor", 1)) != 1
                or int(a.get("dilation_w_factor", 1)) != 1
                or (crops < 0).any() or (pads < 0).any() or (block < 1).any()):
            return False
        w = conv.inputs[1]
        if w is None or len(w.shape) != 4:
            return False
        kh, kw = w.shape[1], w.shape[2]
        dh, dw = int(block[0]), int(block[1])
        padding = (_paddings(x.shape[1], kh, dh, pads[0, 0], crops[0, 0], y.shape[1])
                   & _paddings(x.shape[2], kw, dw, pads[1, 0], crops[1, 0], y.shape[2]))
        if not padding or not _same_quant(x, s2b.outputs[0]) \
                or not _same_quant(conv.outputs[0], y):
            return False
        # Rewrite: the conv reads x, writes y, dilated; the copies go.
        conv_out = conv.outputs[0]
        g.replace_input(conv, 0, x)
        conv.attrs = dict(a, padding="SAME" if "SAME" in padding else "VALID",
                          dilation_h_factor=dh,
                          dilation_w_factor=dw)
        g.remove_node(b2s)
        conv.outputs[0] = y
        y.producer = conv
        conv_out.producer = None
        g.remove_node(s2b)
        return True

    @staticmethod
    def _fuse_1d(g: Graph, s2b: Node, expand: Node) -> bool:
        """The Conv1D form: SPACE_TO_BATCH_ND (N, L, C) -> EXPAND_DIMS (N, 1, L, C) -> conv
        (1 x k) -> RESHAPE (N, L', C') -> BATCH_TO_SPACE_ND. The EXPAND_DIMS, conv and
        RESHAPE stay, on the whole sequence, with the conv dilated along its width."""
        conv = _sole_user(g, expand)
        if conv is not None and _hybrid(conv):
            return False
        reshape = _sole_user(g, conv) if conv is not None and conv.op in _CONVS else None
        b2s = _sole_user(g, reshape) if reshape is not None and reshape.op == "RESHAPE" \
            else None
        if b2s is None or b2s.op != "BATCH_TO_SPACE_ND":
            return False
        x, y = s2b.inputs[0], b2s.outputs[0]
        block, pads = _const(s2b, 1), _const(s2b, 2)
        block2, crops = _const(b2s, 1), _const(b2s, 2)
        if any(a is None for a in (block, pads, block2, crops)):
            return False
        block, block2 = block.reshape(-1), block2.reshape(-1)
        pads, crops = pads.reshape(-1, 2), crops.reshape(-1, 2)
        e_out, c_out = expand.outputs[0], conv.outputs[0]
        a = conv.attrs
        w = conv.inputs[1]
        if (len(x.shape) != 3 or x.shape[0] != 1 or len(y.shape) != 3 or len(block) != 1
                or block.tolist() != block2.tolist() or pads.shape != (1, 2)
                or crops.shape != (1, 2) or (pads < 0).any() or (crops < 0).any()
                or block[0] < 1 or e_out.shape[1] != 1 or len(e_out.shape) != 4
                or a.get("padding") != "VALID" or w is None or w.shape[1] != 1
                or int(a.get("stride_h", 1)) != 1 or int(a.get("stride_w", 1)) != 1
                or int(a.get("dilation_h_factor", 1)) != 1
                or int(a.get("dilation_w_factor", 1)) != 1
                or not _same_quant(x, s2b.outputs[0]) or not _same_quant(reshape.outputs[0], y)
                or not _same_quant(c_out, reshape.outputs[0])):
            return False
        d, k = int(block[0]), w.shape[2]
        n, length, c = x.shape
        out_len, cout = y.shape[1], y.shape[2]
        padding = _paddings(length, k, d, pads[0, 0], crops[0, 0], out_len)
        if not padding:
            return False
        new_e = Value(e_out.name, (n, 1, length, c), e_out.dtype, quant=e_out.quant)
        new_c = Value(c_out.name, (n, 1, out_len, cout), c_out.dtype, quant=c_out.quant)
        g.replace_input(expand, 0, x)
        expand.outputs[0], new_e.producer, e_out.producer = new_e, expand, None
        g.replace_input(conv, 0, new_e)
        conv.outputs[0], new_c.producer, c_out.producer = new_c, conv, None
        conv.attrs = dict(a, padding="SAME" if "SAME" in padding else "VALID",
                          dilation_w_factor=d)
        g.replace_input(reshape, 0, new_c)
        if reshape.input(1) is not None:
            shape = reshape.inputs[1]
            g.replace_input(reshape, 1, Value(f"{shape.name}/dilated", (3,), "int32",
                                              data=np.array([n, out_len, cout], np.int32)))
        if "new_shape" in reshape.attrs:
            reshape.attrs["new_shape"] = [n, out_len, cout]
        g.remove_node(b2s)
        reshape.outputs[0].producer = None
        reshape.outputs[0] = y
        y.producer = reshape
        g.remove_node(s2b)
        return True
