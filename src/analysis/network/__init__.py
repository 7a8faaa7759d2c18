"""Interaction networks: who talks to whom, and who holds the community together.

Start with :func:`network_study` (everything, with headline findings); each part is also a
module of its own (``from analysis.network.brokers import brokers``; functions named like their
module are not re-exported here, so the modules stay importable as ``analysis.network.<name>``):

reply        reply edges on the engine → networkx; overview with PageRank
graphs       reaction, mention and co-participation graphs, monthly snapshots, igraph
ambassadors  ambassador candidates: who welcomes newcomers, brings members, reaches across
structure    density, reciprocity (incl. Garlaschelli–Loffredo), clustering, assortativity
core         k-cores and the core members; rich_club: rich-club coefficient vs rewiring
communities  Leiden (leidenalg + igraph) with stability across seeds; Louvain cross-check
brokers      betweenness, Burt's constraint, participation coefficient, bridges
roles        expertise z-score, answer people vs discussion people
dependency   how much the conversation depends on staff (one headline number)
integration  newcomers' distance to the core after four weeks
evolution    the metrics month by month, with the core's turnover
"""

from analysis.network.communities import community_stability, leiden_communities
from analysis.network.core import core_members, k_core_numbers
from analysis.network.dependency import staff_dependency
from analysis.network.evolution import network_evolution
from analysis.network.integration import newcomer_integration
from analysis.network.reply import NetworkOverview, network_overview, reply_edges_expr, reply_graph
from analysis.network.roles import member_roles
from analysis.network.study import NetworkStudy, network_study

__all__ = [
    "NetworkOverview",
    "NetworkStudy",
    "community_stability",
    "core_members",
    "k_core_numbers",
    "leiden_communities",
    "member_roles",
    "network_evolution",
    "network_overview",
    "network_study",
    "newcomer_integration",
    "reply_edges_expr",
    "reply_graph",
    "staff_dependency",
]
