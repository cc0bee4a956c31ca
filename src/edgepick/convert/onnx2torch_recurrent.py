"""ONNX LSTM, GRU and RNN for onnx2torch, which has no converter for them (1.5.15): OCR recognisers (CRNN), speech and
time-series models stop on "Converter is not implemented (... operation_type='LSTM' ...)".

One module computes ONNX's own equations step by step from plain matmuls and activations, not torch.nn.LSTM/GRU:
- ONNX's GRU default (linear_before_reset=0) is not what torch.nn.GRU computes;
- sequence_lens (padded batches: each sequence stops at its own length, its later outputs are 0, and Y_h holds the
  state at its last step; a reverse pass starts at that last step) has no counterpart in torch.nn's modules;
- plain ops are what torch.export, TorchScript and ExecuTorch all lower (aten.lstm is not in ExecuTorch's portable
  kernels).
The loop over time steps is unrolled when exported (the sequence length is fixed there; only the batch is dynamic).
W, R, B, P stay inputs of the module (onnx2torch feeds initializers as buffers), so weights computed in the graph work
too. Supported: every direction and layout, initial_h/initial_c, sequence_lens, peepholes, clip, input_forget,
activations Sigmoid/Tanh/Relu (others raise NotImplementedError, which onnx2torch's callers report as unsupported).
"""

from __future__ import annotations

__all__ = ["RECURRENT_OPS", "convert_recurrent", "OnnxRecurrent"]

import torch

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
RECURRENT_OPS = tuple(_GATES)


class OnnxRecurrent(torch.nn.Module):
    """forward's parameter names are ONNX's input names in order: onnx2torch passes inputs after a skipped (empty)
    one by these names."""

    def __init__(self, kind: str, hidden: int, direction: str, layout: int, clip: float | None,
                 activations: list[str], linear_before_reset: int, input_forget: int, outputs: int):
        super().__init__()
        self.kind, self.hidden, self.layout, self.clip = kind, hidden, layout, clip
        self.directions = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        self.activations = activations  # one run of the kind's defaults per direction
        self.linear_before_reset, self.input_forget, self.outputs = linear_before_reset, input_forget, outputs

    def forward(self, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None):
        if self.layout == 1:  # batch-major: [batch, seq, ...] and states [batch, directions, hidden]
            x = x.transpose(0, 1)
            initial_h = None if initial_h is None else initial_h.transpose(0, 1)
            initial_c = None if initial_c is None else initial_c.transpose(0, 1)
        ys, hs, cs = [], [], []
        for d, direction in enumerate(self.directions):
            y, h, c = self._direction(d, direction == "reverse", x, w[d], r[d], None if b is None else b[d],
                                      sequence_lens, _state(initial_h, d, x, self.hidden), _state(initial_c, d, x, self.hidden),
                                      None if p is None else p[d])
            ys.append(y), hs.append(h), cs.append(c)
        y, y_h, y_c = torch.stack(ys, 1), torch.stack(hs, 0), torch.stack(cs, 0)  # [seq, dirs, batch, hidden], ...
        if self.layout == 1:
            y, y_h, y_c = y.permute(2, 0, 1, 3), y_h.transpose(0, 1), y_c.transpose(0, 1)
        results = (y, y_h, y_c)[:self.outputs]
        return results[0] if self.outputs == 1 else results

    def _direction(self, d, reverse, x, w, r, b, lens, h, c, p):
        """One direction over the whole sequence: (outputs [seq, batch, hidden], last h, last c)."""
        size = _GATES[self.kind] * self.hidden
        bias_x, bias_inside = self._biases(b, size)
        gates_x = torch.matmul(x, w.t())  # every step's input projection at once
        if bias_x is not None:
            gates_x = gates_x + bias_x
        acts = [_ACTIVATIONS[a.lower()] for a in self.activations[d]]
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            new_h, new_c = self._cell(gates_x[t], h, c, r, bias_inside, p, acts)
            if lens is None:
                h, c, outputs[t] = new_h, new_c, new_h
                continue
            alive = (lens.to(torch.int64) > t).unsqueeze(1)  # past its length a sequence keeps its state, outputs 0
            h, c = torch.where(alive, new_h, h), torch.where(alive, new_c, c)
            outputs[t] = torch.where(alive, new_h, torch.zeros_like(new_h))
        return torch.stack(outputs, 0), h, c

    def _biases(self, b, size):
        """(bias added to the input projection, GRU's recurrent h-gate bias kept inside the reset product): ONNX's
        B is [Wb, Rb]; both add up front except Rbh of a GRU with linear_before_reset=1."""
        if b is None:
            return None, None
        wb, rb = b[:size], b[size:]
        if self.kind == "GRU" and self.linear_before_reset:
            two = 2 * self.hidden
            return wb + torch.cat([rb[:two], torch.zeros_like(rb[two:])]), rb[two:]
        return wb + rb, None

    def _clip(self, v):
        return v if self.clip is None else v.clamp(-self.clip, self.clip)

    def _cell(self, gx, h, c, r, bias_inside, p, acts):
        if self.kind == "LSTM":
            return self._lstm(gx, h, c, r, p, acts)
        if self.kind == "GRU":
            return self._gru(gx, h, r, bias_inside, acts), c
        return acts[0](self._clip(gx + torch.matmul(h, r.t()))), c

    def _lstm(self, gx, h, c, r, p, acts):
        f, g, act_h = acts
        i, o, fg, cell = (gx + torch.matmul(h, r.t())).split(self.hidden, -1)  # ONNX's gate order: i, o, f, c
        pi, po, pf = (None, None, None) if p is None else p.split(self.hidden, -1)
        i = f(self._clip(i if pi is None else i + pi * c))
        fg = 1 - i if self.input_forget else f(self._clip(fg if pf is None else fg + pf * c))
        new_c = fg * c + i * g(self._clip(cell))
        o = f(self._clip(o if po is None else o + po * new_c))
        return o * act_h(new_c), new_c

    def _gru(self, gx, h, r, bias_inside, acts):
        f, g = acts
        hidden = self.hidden
        z, reset, cand = gx.split(hidden, -1)  # ONNX's gate order: z, r, h
        gh = torch.matmul(h, r[:2 * hidden].t())
        z = f(self._clip(z + gh[..., :hidden]))
        reset = f(self._clip(reset + gh[..., hidden:]))
        r_h = r[2 * hidden:].t()
        if self.linear_before_reset:
            recurrent = torch.matmul(h, r_h) + (0 if bias_inside is None else bias_inside)
            cand = g(self._clip(cand + reset * recurrent))
        else:
            cand = g(self._clip(cand + torch.matmul(reset * h, r_h)))
        return (1 - z) * cand + z * h


def _state(initial, d, x, hidden):
    """Direction d's initial state [batch, hidden]: zeros when the graph gives none."""
    if initial is not None:
        return initial[d]
    return torch.zeros(x.shape[1], hidden, dtype=x.dtype, device=x.device)


def convert_recurrent(node, graph):
    """onnx2torch's converter signature: (OnnxNode, OnnxGraph) -> OperationConverterResult."""
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    kind, attrs = node.operation_type, dict(node.attributes)
    direction = attrs.get("direction", "forward")
    count = 2 if direction == "bidirectional" else 1
    names = attrs.get("activations") or list(_DEFAULT_ACTIVATIONS[kind]) * count
    unknown = sorted({a for a in names if a.lower() not in _ACTIVATIONS})
    if unknown:
        raise NotImplementedError(f"{kind} with activation(s) {', '.join(unknown)} (edgepick's recurrent converter "
                                  f"knows {', '.join(sorted(_ACTIVATIONS))})")
    per = len(_DEFAULT_ACTIVATIONS[kind])
    module = OnnxRecurrent(kind, int(attrs["hidden_size"]), direction, int(attrs.get("layout", 0)),
                           float(attrs["clip"]) if "clip" in attrs else None,
                           [names[i * per:(i + 1) * per] for i in range(count)],
                           int(attrs.get("linear_before_reset", 0)), int(attrs.get("input_forget", 0)),
                           len(node.output_values))
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node=node))
