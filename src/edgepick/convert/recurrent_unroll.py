"""ONNX LSTM, GRU and RNN rewritten as the plain ops they compute, step by step, for converters without them.

TVM's Relax ONNX frontend has no LSTM or GRU (CRNN-style OCR recognisers, speech and time-series models stop there).
Each recurrent node whose weights are constants and whose sequence length is known becomes, per direction: one MatMul
of the whole sequence per gate, then for each step a Gather of that step, MatMuls with the recurrent weights, Add,
Sigmoid/Tanh/Relu, Mul; sequence_lens become Less + Where masks (a finished sequence keeps its state and outputs 0).
Only ops every frontend has, in forms valid at any opset (Reshape with a -1 where an Unsqueeze would need
version-specific axes; Max/Min for clip). The batch stays dynamic. ONNX Runtime runs both graphs, so the rewrite is
checked against the original directly (tests/convert/test_recurrent_unroll.py).
"""

from __future__ import annotations

__all__ = ["unroll_recurrent", "RECURRENT"]

RECURRENT = ("LSTM", "GRU", "RNN")
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def unroll_recurrent(model, signature=None) -> int:
    """Rewrite every LSTM/GRU/RNN node that can be (constant W/R/B/P, a static sequence length, Sigmoid/Tanh/Relu
    activations); return how many. The sequence length is inferred from the model's input shapes, or from the
    signature's measured ones where given (the model's own inputs are left as they are)."""
    import onnx
    from onnx import numpy_helper

    if not {n.op_type for n in model.graph.node} & set(RECURRENT):
        return 0
    probe = model
    if signature is not None:
        from edgepick.convert.static import fix_input_shapes

        probe = type(model)()
        probe.CopyFrom(model)
        fix_input_shapes(probe, signature)
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True)
    except Exception:  # a graph ONNX's inference cannot walk: nothing is rewritten
        return 0
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes, done = [], 0
    for index, node in enumerate(model.graph.node):
        plan = _plan(node, shapes, constants) if node.op_type in RECURRENT else None
        if plan is None:
            nodes.append(node)
            continue
        builder = _Builder(model, f"{node.name or node.op_type}_{index}_unrolled")
        builder.unroll(node, *plan)
        nodes.extend(builder.nodes)
        done += 1
    if done:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return done


def _plan(node, shapes, constants):
    """(attributes, steps, constant weights) when this node can be rewritten, else None."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs["activations"] = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    if any(a.lower() not in ("sigmoid", "tanh", "relu") for a in attrs["activations"]):
        return None
    inputs = list(node.input) + [""] * (8 - len(node.input))
    weights = [constants.get(name) if name else None for name in (inputs[1], inputs[2], inputs[3], inputs[7])]
    if weights[0] is None or weights[1] is None or any(n and w is None for n, w in zip((inputs[3], inputs[7]), weights[2:])):
        return None
    shape = shapes.get(inputs[0])
    steps = shape[int(attrs.get("layout", 0))] if shape and len(shape) == 3 else None
    return (attrs, steps, weights) if steps else None


class _Builder:
    """Makes the nodes and constants of one rewrite, with names under one prefix."""

    def __init__(self, model, prefix: str):
        self.model, self.prefix, self.nodes, self.count = model, prefix, [], 0

    def name(self, what: str) -> str:
        self.count += 1
        return f"{self.prefix}/{what}_{self.count}"

    def const(self, value, what="const") -> str:
        from onnx import numpy_helper

        name = self.name(what)
        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.name(op_type), **attrs))
        return output

    def unroll(self, node, attrs, steps, weights):
        import numpy as np

        kind, hidden = node.op_type, int(attrs["hidden_size"])
        inputs = list(node.input) + [""] * (8 - len(node.input))
        outputs = list(node.output) + [""] * (3 - len(node.output))
        direction, layout = attrs.get("direction", b"forward"), int(attrs.get("layout", 0))
        direction = direction.decode() if isinstance(direction, bytes) else direction
        count = 2 if direction == "bidirectional" else 1
        names = attrs["activations"] or _DEFAULTS[kind] * count
        per = len(_DEFAULTS[kind])
        x, h0, c0 = inputs[0], inputs[5], inputs[6]
        if layout:  # batch-major in and out: the steps run on [steps, batch, ...]
            x = self.op("Transpose", [x], perm=[1, 0, 2])
            h0 = self.op("Transpose", [h0], perm=[1, 0, 2]) if h0 else ""
            c0 = self.op("Transpose", [c0], perm=[1, 0, 2]) if c0 else ""
        self.dtype = np.float32 if weights[0].dtype != np.float64 else np.float64
        ys, hs, cs = [], [], []
        for d in range(count):
            reverse = direction == "reverse" or d == 1
            cell = _Cell(self, kind, hidden, attrs, names[d * per:(d + 1) * per], [None if w is None else w[d] for w in weights])
            y, h, c = cell.run(x, steps, reverse, self._initial(h0, d, x, hidden), self._initial(c0, d, x, hidden),
                               inputs[4])
            ys.append(y)  # [steps, batch, hidden]
            hs.append(self.op("Reshape", [h, self.const(np.array([1, -1, hidden], np.int64))]))
            cs.append(self.op("Reshape", [c, self.const(np.array([1, -1, hidden], np.int64))]) if c else "")
        # Y [steps, directions, batch, hidden]: joined in 3-D, then one Reshape (onnx2tf mislays a 4-D Concat)
        y = self.op("Reshape", [self.op("Concat", ys, axis=1), self.const(np.array([steps, count, -1, hidden], np.int64))])
        results = [(y, [2, 0, 1, 3]), (self.op("Concat", hs, axis=0), [1, 0, 2])]
        results.append((self.op("Concat", cs, axis=0) if cs[0] else "", [1, 0, 2]))
        for name, (joined, perm) in zip(outputs, results):
            if name:
                self.op("Transpose", [joined], name, perm=perm) if layout else self.op("Identity", [joined], name)

    def _initial(self, state, d, x, hidden) -> str:
        """Direction d's initial state [batch, hidden]; zeros of the batch's size when the graph gives none."""
        import numpy as np

        if state:
            return self.op("Gather", [state, self.const(np.array(d, np.int64))], axis=0)
        first = self.op("Gather", [x, self.const(np.array(0, np.int64))], axis=0)  # [batch, input]
        return self.op("Add", [self._column(first), self.const(np.zeros((1, hidden), self.dtype))])

    def _column(self, tensor) -> str:
        """[batch, 1] zeros from a [batch, n] tensor: its first column times 0."""
        import numpy as np

        column = self.op("Gather", [tensor, self.const(np.array([0], np.int64))], axis=1)
        return self.op("Mul", [column, self.const(np.zeros((), self.dtype))])


class _Cell:
    """One direction of one recurrent node: the per-step equations of ONNX's LSTM, GRU and RNN."""

    def __init__(self, b: _Builder, kind, hidden, attrs, activations, weights):
        self.b, self.kind, self.hidden = b, kind, hidden
        self.clip = attrs.get("clip")
        self.lbr, self.input_forget = int(attrs.get("linear_before_reset", 0)), int(attrs.get("input_forget", 0))
        self.acts = activations
        self.w, self.r, self.bias, self.p = weights

    def _gate_weights(self, g):
        h = self.hidden
        return self.w[g * h:(g + 1) * h].T.copy(), self.r[g * h:(g + 1) * h].T.copy()

    def run(self, x, steps, reverse, h, c, lens):
        import numpy as np

        b, gates = self.b, _GATES[self.kind]
        size = gates * self.hidden
        wb = self.bias[:size] if self.bias is not None else np.zeros(size, b.dtype)
        rb = self.bias[size:] if self.bias is not None else np.zeros(size, b.dtype)
        projected, recurrent, inside = [], [], None
        for g in range(gates):
            w_t, r_t = self._gate_weights(g)
            bias = wb[g * self.hidden:(g + 1) * self.hidden] + rb[g * self.hidden:(g + 1) * self.hidden]
            if self.kind == "GRU" and g == 2 and self.lbr:  # Rbh stays inside the reset product
                bias, inside = wb[2 * self.hidden:], b.const(rb[2 * self.hidden:].astype(b.dtype))
            whole = b.op("MatMul", [x, b.const(w_t.astype(b.dtype))])  # every step at once: [steps, batch, hidden]
            projected.append(b.op("Add", [whole, b.const(bias.astype(b.dtype))]))
            recurrent.append(b.const(r_t.astype(b.dtype)))
        zeros = b.op("Mul", [h, b.const(np.zeros((), b.dtype))])
        outputs = [None] * steps
        c = c or (zeros if self.kind == "LSTM" else "")
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            at = [b.op("Gather", [p, b.const(np.array(t, np.int64))], axis=0) for p in projected]
            new_h, new_c = self._step(at, recurrent, inside, h, c)
            if lens:
                alive = b.op("Less", [b.const(np.array(t, np.int64)), b.op("Cast", [lens], to=7)])
                alive = b.op("Reshape", [alive, b.const(np.array([-1, 1], np.int64))])
                outputs[t] = b.op("Where", [alive, new_h, zeros])
                h = b.op("Where", [alive, new_h, h])
                c = b.op("Where", [alive, new_c, c]) if new_c else c
            else:
                outputs[t], h, c = new_h, new_h, new_c or c
        shaped = [b.op("Reshape", [y, b.const(np.array([1, -1, self.hidden], np.int64))]) for y in outputs]
        return b.op("Concat", shaped, axis=0), h, (c if self.kind == "LSTM" else "")

    def _act(self, index, value, clip=True):
        name = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[self.acts[index].lower()]
        return self.b.op(name, [self._clipped(value) if clip else value])

    def _clipped(self, value):
        import numpy as np

        if self.clip is None:
            return value
        b = self.b
        low = b.op("Max", [value, b.const(np.array(-self.clip, b.dtype))])
        return b.op("Min", [low, b.const(np.array(self.clip, b.dtype))])

    def _pre(self, at, recurrent, g, h):
        return self.b.op("Add", [at[g], self.b.op("MatMul", [h, recurrent[g]])])

    def _step(self, at, recurrent, inside, h, c):
        if self.kind == "RNN":
            return self._act(0, self._pre(at, recurrent, 0, h)), ""
        if self.kind == "GRU":
            return self._gru(at, recurrent, inside, h), ""
        return self._lstm(at, recurrent, h, c)

    def _lstm(self, at, recurrent, h, c):
        import numpy as np

        b, hidden = self.b, self.hidden
        peep = None if self.p is None else [b.const(self.p[k * hidden:(k + 1) * hidden].astype(b.dtype)) for k in range(3)]
        i_pre, o_pre, f_pre, c_pre = (self._pre(at, recurrent, g, h) for g in range(4))  # ONNX order: i, o, f, c
        if peep:
            i_pre, f_pre = b.op("Add", [i_pre, b.op("Mul", [peep[0], c])]), b.op("Add", [f_pre, b.op("Mul", [peep[2], c])])
        i = self._act(0, i_pre)
        f = b.op("Sub", [b.const(np.array(1, b.dtype)), i]) if self.input_forget else self._act(0, f_pre)
        new_c = b.op("Add", [b.op("Mul", [f, c]), b.op("Mul", [i, self._act(1, c_pre)])])
        if peep:
            o_pre = b.op("Add", [o_pre, b.op("Mul", [peep[1], new_c])])
        new_h = b.op("Mul", [self._act(0, o_pre), self._act(2, new_c, clip=False)])  # clip bounds the gates only
        return new_h, new_c

    def _gru(self, at, recurrent, inside, h):
        import numpy as np

        b = self.b
        z = self._act(0, self._pre(at, recurrent, 0, h))
        r = self._act(0, self._pre(at, recurrent, 1, h))
        if self.lbr:
            candidate = b.op("Add", [at[2], b.op("Mul", [r, b.op("Add", [b.op("MatMul", [h, recurrent[2]]), inside])])])
        else:
            candidate = b.op("Add", [at[2], b.op("MatMul", [b.op("Mul", [r, h]), recurrent[2]])])
        hh = self._act(1, candidate)
        one_minus_z = b.op("Sub", [b.const(np.array(1, b.dtype)), z])
        return b.op("Add", [b.op("Mul", [one_minus_z, hh]), b.op("Mul", [z, h])])
