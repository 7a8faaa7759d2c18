"""Interaction networks: who talks to whom, and who holds the community together.

Modules
-------
reply
    The reply graph (edge list from the engine → networkx) and its overview with PageRank.
"""

from analysis.network.reply import NetworkOverview, network_overview, reply_edges_expr, reply_graph

__all__ = ["NetworkOverview", "network_overview", "reply_edges_expr", "reply_graph"]
