"""The bundled demo model: a small int8 keyword-spotting CNN that picojoule builds itself.

Its shape follows the MLPerf Tiny DS-CNN (49x10 MFCC features in, 12 classes out):
CONV_2D -> DEPTHWISE_CONV_2D -> CONV_2D (1x1) -> AVERAGE_POOL_2D -> RESHAPE ->
FULLY_CONNECTED -> SOFTMAX. Its weights are seeded random, not trained: the demo shows
what picojoule reports about a model, not what the model recognises. Quantization
follows TFLite's int8 conventions (per-channel symmetric weights, asymmetric
activations calibrated on the float model's ranges over random inputs, int32 biases,
softmax output scale 1/256 with zero point -128), so TFLM and LiteRT run the file.

Regenerate the bundled file with ``python -m picojoule.demo``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from picojoule.ir import Graph, Model, Node, Quant, Value

DEMO_PATH = Path(__file__).resolve().parent / "data" / "demo.tflite"
_INPUT = (1, 49, 10, 1)
_CLASSES = 12


def _layers(rng: np.random.Generator) -> list[tuple[str, dict, np.ndarray | None, np.ndarray | None]]:
    """(op, attrs, float weights, float bias) for each layer."""
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    conv = dict(padding="SAME", stride_h=2, stride_w=2, dilation_h_factor=1,
                dilation_w_factor=1, fused_activation_function="RELU")
    return [
        ("CONV_2D", conv, he((16, 10, 4, 1), 40), rng.normal(0, 0.1, 16).astype(np.float32)),
        ("DEPTHWISE_CONV_2D", dict(conv, stride_h=1, stride_w=1, depth_multiplier=1),
         he((1, 3, 3, 16), 9), rng.normal(0, 0.1, 16).astype(np.float32)),
        ("CONV_2D", dict(conv, padding="VALID", stride_h=1, stride_w=1), he((32, 1, 1, 16), 16),
         rng.normal(0, 0.1, 32).astype(np.float32)),
        ("AVERAGE_POOL_2D", dict(padding="VALID", stride_h=1, stride_w=1, filter_height=25,
                                 filter_width=5, fused_activation_function="NONE"), None, None),
        ("RESHAPE", dict(new_shape=[1, 32]), None, None),
        ("FULLY_CONNECTED", dict(fused_activation_function="NONE", weights_format=0,
                                 keep_num_dims=False, asymmetric_quantize_inputs=False),
         he((_CLASSES, 32), 32), np.zeros(_CLASSES, np.float32)),
        ("SOFTMAX", dict(beta=1.0), None, None),
    ]


_OUT_SHAPES = [(1, 25, 5, 16), (1, 25, 5, 16), (1, 25, 5, 32), (1, 1, 1, 32), (1, 32),
               (1, _CLASSES), (1, _CLASSES)]


def _build(layers, quants: list[Quant] | None, in_quant: Quant | None) -> Model:
    """The float model (``quants is None``) or the int8 one with the given activation quants."""
    integer = quants is not None
    g = Graph("demo_kws")
    x = Value("features", _INPUT, "int8" if integer else "float32", quant=in_quant)
    g.inputs = [x]
    names = ["conv1", "dwconv", "pwconv", "pool", "flatten", "logits", "probabilities"]
    for k, ((op, attrs, w, b), shape, name) in enumerate(zip(layers, _OUT_SHAPES, names)):
        out = Value(name, shape, "int8" if integer else "float32",
                    quant=quants[k] if integer else None)
        ins: list[Value | None] = [x]
        if op == "RESHAPE":
            ins.append(Value(f"{name}/shape", [2], "int32", data=np.array([1, 32], np.int32)))
        if w is not None:
            if integer:
                axis = 3 if op == "DEPTHWISE_CONV_2D" else 0
                red = tuple(i for i in range(w.ndim) if i != axis)
                w_scale = np.maximum(np.abs(w).max(axis=red), 1e-8) / 127.0
                shp = [1] * w.ndim
                shp[axis] = -1
                wq = np.clip(np.round(w / w_scale.reshape(shp)), -127, 127).astype(np.int8)
                b_scale = x.quant.scale0 * w_scale
                bq = np.round(b / b_scale).astype(np.int32)
                ins.append(Value(f"{name}/weights", w.shape, "int8", data=wq,
                                 quant=Quant(w_scale, np.zeros(w_scale.size), axis)))
                ins.append(Value(f"{name}/bias", b.shape, "int32", data=bq,
                                 quant=Quant(b_scale, np.zeros(b_scale.size), 0)))
            else:
                ins.append(Value(f"{name}/weights", w.shape, "float32", data=w))
                ins.append(Value(f"{name}/bias", b.shape, "float32", data=b))
        g.add_node(Node(op, ins, [out], attrs, name=name))
        x = out
    g.outputs = [x]
    return Model([g], description="picojoule demo: int8 keyword-spotting CNN, seeded weights")


def _affine(lo: float, hi: float) -> Quant:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-6) / 255.0
    return Quant([scale], [int(np.clip(np.round(-128 - lo / scale), -128, 127))])


def build_demo_model(seed: int = 7, calibration: int = 64) -> Model:
    """Build the demo model deterministically from ``seed``."""
    from picojoule.runtime import Interpreter

    layers = _layers(np.random.default_rng(seed))
    fmodel = _build(layers, None, None)
    interp = Interpreter(fmodel, preserve_all=True)
    rng = np.random.default_rng(seed + 1)
    feats = [rng.standard_normal(_INPUT).astype(np.float32) * 2.0 for _ in range(calibration)]
    nodes = fmodel.main.nodes
    lo = np.full(len(nodes), np.inf)
    hi = np.full(len(nodes), -np.inf)
    for f in feats:
        interp.run([f])
        for k, n in enumerate(nodes):
            t = interp.tensor(n.outputs[0])
            lo[k], hi[k] = min(lo[k], float(t.min())), max(hi[k], float(t.max()))
    in_q = _affine(float(min(f.min() for f in feats)), float(max(f.max() for f in feats)))
    quants = [_affine(lo[k], hi[k]) for k in range(len(nodes))]
    # Pooling, reshape keep their input's quantization; softmax's output is fixed by TFLite.
    quants[3] = quants[2]
    quants[4] = quants[2]
    quants[6] = Quant([1.0 / 256.0], [-128])
    return _build(layers, quants, in_q)


def main() -> None:
    from picojoule.exporters.tflite import save

    DEMO_PATH.parent.mkdir(parents=True, exist_ok=True)
    save(build_demo_model(), DEMO_PATH)
    print(f"wrote {DEMO_PATH}")


if __name__ == "__main__":
    main()
