"""Two expert graphs into one: the product of experts as a single ONNX graph.

:func:`product_of_experts` takes the graphs of :func:`itslib.web.graphs.expert_term_graph`
(each ``weight * guided noise`` of one expert) and builds::

    eps = If(image_weight > 0, image_part, zeros) + If(audio_weight > 0, audio_part, zeros)

so a step makes one call, and an expert whose weight is 0 (the warm start, or an
audio weight of 0 or 1) costs nothing, as in :func:`itslib.sampler.sample`, which
evaluates only the active experts. Each expert graph becomes the ``then`` branch of an
``If``; its internal names get the expert's name as a prefix (``image/...``), its
weights are lifted into the outer graph (shared scope, loaded once).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def _prefixed_body(model: onnx.ModelProto, prefix: str, outer: set[str]):
    """The graph of ``model`` as an ``If`` branch: names not in ``outer`` (the outer
    graph's inputs) prefixed, no inputs of its own, initializers returned apart."""
    graph = model.graph

    def rename(name: str) -> str:
        return name if (not name or name in outer) else f"{prefix}/{name}"

    nodes = []
    for node in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = rename(node.name) if node.name else ""
        copy.input[:] = [rename(n) for n in node.input]
        copy.output[:] = [rename(n) for n in node.output]
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):  # fmt: skip
            raise ValueError(f"{prefix}: nested subgraphs ({node.op_type}) are not supported.")
        nodes.append(copy)
    initializers = []
    for tensor in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = rename(tensor.name)
        initializers.append(copy)
    (output,) = graph.output
    body_output = onnx.ValueInfoProto()
    body_output.CopyFrom(output)
    body_output.name = rename(output.name)
    body = helper.make_graph(nodes, f"{prefix}_active", [], [body_output])
    return body, initializers, output


def _zeros_body(prefix: str, like: str, output: onnx.ValueInfoProto) -> onnx.GraphProto:
    """An ``If`` branch that outputs zeros shaped like ``like`` (the expert is skipped)."""
    shape, zeros = f"{prefix}/off_shape", f"{prefix}/off_zeros"
    nodes = [
        helper.make_node("Shape", [like], [shape], name=f"{prefix}/off_shape_node"),
        helper.make_node("ConstantOfShape", [shape], [zeros], name=f"{prefix}/off_zeros_node",
                         value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
    ]  # fmt: skip
    out = onnx.ValueInfoProto()
    out.CopyFrom(output)
    out.name = zeros
    return helper.make_graph(nodes, f"{prefix}_skipped", [], [out])


def product_of_experts(terms: dict[str, onnx.ModelProto], output: str = "eps") -> onnx.ModelProto:
    """One graph from ``{name: expert term graph}`` (in order): inputs ``x_t``, ``t`` and,
    per expert, ``{name}_label``, ``{name}_guidance``, ``{name}_weight``; output ``output``,
    the sum of the active experts' weighted guided estimates (B, 4, h, w).

    Raises ``ValueError`` when the graphs disagree on their shared inputs or opsets.
    """
    models = list(terms.values())
    first = models[0]
    inputs: dict[str, onnx.ValueInfoProto] = {}
    for model in models:
        for value in model.graph.input:
            if value.name in inputs and inputs[value.name] != value:
                raise ValueError(f"the expert graphs disagree on input {value.name!r}.")
            inputs.setdefault(value.name, value)
        if list(model.opset_import) != list(first.opset_import):
            raise ValueError("the expert graphs were exported with different opsets.")
    outer = set(inputs)
    nodes, initializers, parts = [], [], []
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes.append(helper.make_node("Constant", [], ["zero"], name="zero_node", value=zero))
    for name, model in terms.items():
        body, weights, out = _prefixed_body(model, name, outer)
        initializers += weights
        on = f"{name}_on"
        nodes.append(helper.make_node("Greater", [f"{name}_weight", "zero"], [on],
                                      name=f"{name}_on_node"))  # fmt: skip
        nodes.append(helper.make_node("If", [on], [out.name], name=f"{name}_if",
                                      then_branch=body,
                                      else_branch=_zeros_body(name, "x_t", out)))  # fmt: skip
        parts.append(out.name)
    total = parts[0]
    for k, part in enumerate(parts[1:], start=1):
        total_next = output if k == len(parts) - 1 else f"sum_{k}"
        nodes.append(helper.make_node("Add", [total, part], [total_next], name=f"add_{k}"))
        total = total_next
    if len(parts) == 1:
        nodes.append(helper.make_node("Identity", [total], [output], name="identity"))
    result = onnx.ValueInfoProto()
    result.CopyFrom(first.graph.output[0])
    result.name = output
    graph = helper.make_graph(nodes, "product_of_experts", list(inputs.values()), [result],
                              initializer=initializers)  # fmt: skip
    model = helper.make_model(graph, opset_imports=list(first.opset_import),
                              producer_name="itslib.web", ir_version=first.ir_version)  # fmt: skip
    onnx.checker.check_model(model)
    return model
