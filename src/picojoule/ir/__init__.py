"""The graph IR: values, nodes, graphs and models."""

from picojoule.ir.graph import Graph, Model, Node, Quant, Value

__all__ = ["Graph", "Model", "Node", "Quant", "Value"]
