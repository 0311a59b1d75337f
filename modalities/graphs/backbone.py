"""The denoiser network for flat-packed graphs: a dense graph transformer.

It takes the core's flat input x (B, dim) (see :mod:`modalities.graphs.flat` for the layout),
unpacks it to nodes (B, n, F) and symmetric edges (B, n, n, C), and returns a tensor shaped like x.
It is permutation-equivariant: permuting the real nodes of a graph before packing permutes
the unpacked output the same way. Padding nodes (mask 0) are excluded from attention and
pooling and get zero output, so a graph's output does not depend on how much padding it has.

Conditioning: the noise level c_noise (B,) is embedded (Fourier features + MLP) and modulates
every block through FiLM (scale/shift/gate, "adaLN"); so does the real graph size n / n_max.
Optional float properties cond (B, k) are embedded when ``cond_dim > 0``; NaN means "no value"
(the classifier-free null), handled per property with a has-value flag.

Self-conditioning (``self_condition=True``): the net also gets its previous clean estimate and
reads structure off it the way DiGress's "extra features" read it off a discrete graph (Vignac et
al. 2023, Sec. 4.3): per node, the expected number of bonds of each type (valence is a sum, which
softmax attention cannot form) and closed-walk counts diag(Aᵏ), k = 2..6 (ring membership: an
atom in a 6-ring has a closed 6-walk, which is what alternating kekulé bonds depend on); per
pair, the path counts (Aᵏ)_ij, k = 2..4. A is the estimate's soft adjacency P(bond).

Spectral features (``spectral=K``, with self-conditioning): the K leading eigenvectors v_k of the
estimate's A, as pair features n·v_k,i·v_k,j and node features n·v_k,i² and λ_k/n (DiGress's
eigenvector features, made sign-invariant by the products). Walk counts are local; which of two
communities a node belongs to is global, and the second eigenvector of A reads it off directly.

Component features (``components=True``, with self-conditioning): the estimate thresholded at
P(bond) > 1/2 and its connected components (DiGress's "number of connected components" and
"largest component" features). Per node: its component's size / n, whether it lies in the largest
component, and how many components the graph has; per pair: whether i and j are in the same
component. Measured on molecules (docs/molecule_benchmarks.md): sampled graphs fall apart into
fragments that every per-entry feature above sees as locally fine; which pairs would join two
pieces is a global fact that only reachability states.

Distance features (``distances=K``, with self-conditioning): per pair, a one-hot of the shortest-path
distance d = 1…K between i and j in the same thresholded estimate (all zeros beyond K or in another
component). A bond between atoms at distance d closes a ring of d + 1: closed-walk counts say that a
node sits on some ring, not which pair would close a 6-ring rather than a 4- or an 8-ring, and the
samples' rings come out of the wrong size (docs/molecule_benchmarks.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as Fn
from torch import Tensor, nn

from pfgm.core.errors import ConfigError
from ..shared.conditioning import SigmaEmbedding, film
from .flat import GraphLayout
from .pairs import PairIndex
from .size_groups import graph_cost, graph_size_groups
from .structure import connected_components, path_distances

_NEG = -1e9  # large negative instead of -inf: an all-padding row must not produce NaN


class Conditioning(nn.Module):
    """(c_noise (B,), size fraction (B,), cond (B, k) with NaN = null) -> embedding (B, dim)."""

    def __init__(self, dim: int, cond_dim: int = 0):
        super().__init__()
        self.cond_dim = cond_dim
        # 100·c_noise at frequencies 1 … 10⁻⁴: periods from 2π/100 to ~600 units of c_noise
        self.fourier = SigmaEmbedding(dim, 1.0, 1e-4, endpoint=False, scale=100.0)
        self.size = nn.Linear(1, dim)
        self.cond = nn.Linear(2 * cond_dim, dim) if cond_dim > 0 else None
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c_noise: Tensor, size_frac: Tensor, cond: Tensor | None) -> Tensor:
        e = self.fourier(c_noise).to(size_frac.dtype) + self.size(size_frac.view(-1, 1))
        if self.cond is not None:
            if cond is None:  # no properties given = every property null
                cond = torch.full((e.shape[0], self.cond_dim), float("nan"), dtype=e.dtype, device=e.device)
            cond = cond.to(e.dtype).view(cond.shape[0], -1)
            if cond.shape[1] != self.cond_dim:
                raise ValueError(f"cond has {cond.shape[1]} properties, the backbone was built for {self.cond_dim}")
            has = (~torch.isnan(cond)).to(e.dtype)
            e = e + self.cond(torch.cat([torch.nan_to_num(cond) * has, has], dim=-1))
        return self.mlp(e)


def _gate(g: Tensor, x: Tensor) -> Tensor:
    return g.view((x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)) * x


class GraphTransformerBlock(nn.Module):
    """Node self-attention biased by edge features, node MLP, and an edge update from node pairs."""

    def __init__(self, dn: int, de: int, heads: int, emb: int, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if dn % heads:
            raise ConfigError(f"node width {dn} must be divisible by heads {heads}")
        self.h, self.dh = heads, dn // heads
        self.norm_n1 = nn.LayerNorm(dn, elementwise_affine=False)
        self.norm_n2 = nn.LayerNorm(dn, elementwise_affine=False)
        self.norm_e = nn.LayerNorm(de, elementwise_affine=False)
        self.qkv = nn.Linear(dn, 3 * dn)
        self.edge_bias = nn.Linear(de, heads)
        self.proj = nn.Linear(dn, dn)
        # softmax attention averages, so it cannot count; valence is a *sum* of bond orders, so nodes
        # also get the sum of their incident edge features (scaled by 1/√n_max to keep it O(1))
        self.edge_sum = nn.Linear(de, dn)
        hid = int(dn * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dn, hid), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hid, dn))
        # edge update: e_ij from (e_ij, a_i + a_j, b_i ⊙ b_j, attention logits (i,j)+(j,i)): all symmetric in i, j
        self.pair_sum = nn.Linear(dn, de)
        self.pair_prod = nn.Linear(dn, de)
        self.edge_mlp = nn.Sequential(nn.Linear(3 * de + heads, 2 * de), nn.SiLU(), nn.Linear(2 * de, de))
        # FiLM: node (shift, scale, gate) × 2, edge (shift, scale, gate); zero-init so blocks start as identity
        self.mod = nn.Linear(emb, 6 * dn + 3 * de)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        self.drop = nn.Dropout(dropout)
        self.dn, self.de = dn, de

    def forward(
        self, h: Tensor, e: Tensor, emb: Tensor, node_mask: Tensor, pair_mask: Tensor, pairs: PairIndex, n_max: int
    ) -> tuple[Tensor, Tensor]:
        """h (B, n, dn) nodes; e (B, P, de) the pairs i < j (see :mod:`.pairs`); pair_mask (B, P).

        n_max: the full layout's, which scales the edge sums; n is smaller when the batch runs
        trimmed to its largest graph, and the scale must not depend on that."""
        B, n, _ = h.shape
        m = self.mod(Fn.silu(emb))
        sh1, sc1, g1, sh2, sc2, g2 = m[:, : 6 * self.dn].chunk(6, dim=-1)
        she, sce, ge = m[:, 6 * self.dn :].chunk(3, dim=-1)
        # gates start at 1 (identity-plus-residual), modulated by the conditioning
        g1, g2, ge = 1 + g1, 1 + g2, 1 + ge

        en = film(self.norm_e(e), she, sce)
        hn = film(self.norm_n1(h), sh1, sc1)
        q, k, v = self.qkv(hn).view(B, n, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)  # (B, H, n, dh) each
        # the diagonal (a node attending to itself) has no edge; its bias is that of a zero edge
        # feature, which after the norm and FiLM is the shift
        eye = torch.eye(n, device=h.device, dtype=h.dtype).unsqueeze(-1)
        bias = pairs.to_full(self.edge_bias(en)) + eye * self.edge_bias(she).view(B, 1, 1, -1)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.dh) + bias.permute(0, 3, 1, 2)
        key_ok = node_mask.view(B, 1, 1, n) > 0
        attn = torch.softmax(logits.masked_fill(~key_ok, _NEG), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, n, self.dn)
        summed = pairs.node_sum(en * pair_mask.unsqueeze(-1)) * n_max**-0.5
        h = h + _gate(g1, self.drop(self.proj(out) + self.edge_sum(summed)))
        h = h + _gate(g2, self.mlp(film(self.norm_n2(h), sh2, sc2)))
        h = h * node_mask.unsqueeze(-1)

        (a_i, a_j), (b_i, b_j) = pairs.outer(self.pair_sum(h)), pairs.outer(self.pair_prod(h))
        sym = pairs.to_pairs((logits + logits.transpose(-1, -2)).permute(0, 2, 3, 1))
        e = e + _gate(ge, self.edge_mlp(torch.cat([en, a_i + a_j, b_i * b_j, sym], dim=-1)))
        e = e * pair_mask.unsqueeze(-1)
        return h, e


class _GraphNetBase(nn.Module):
    """Input/output plumbing: unpack, masks, conditioning, heads, symmetrise, pack."""

    WALKS = (2, 3, 4, 5, 6)  # closed-walk lengths read off the self-conditioning estimate (nodes)
    PATHS = (2, 3, 4)  # walk lengths between node pairs (edges)

    def __init__(
        self,
        n_max: int,
        node_dim: int,
        edge_dim: int,
        node_width: int,
        edge_width: int,
        cond_dim: int,
        self_condition: bool = False,
        spectral: int = 0,
        components: bool = False,
        distances: int = 0,
    ):
        super().__init__()
        self.layout = GraphLayout(n_max, node_dim, edge_dim)
        self.self_condition = bool(self_condition)
        if spectral and not self.self_condition:
            raise ConfigError("spectral features are read off the self-conditioning estimate: set self_condition: true")
        if components and not self.self_condition:
            raise ConfigError("component features are read off the self-conditioning estimate: set self_condition: true")
        self.components = bool(components)
        if distances and not self.self_condition:
            raise ConfigError("distance features are read off the self-conditioning estimate: set self_condition: true")
        if not 0 <= distances < n_max:
            raise ConfigError(f"distances must lie in [0, n_max={n_max}), got {distances}")
        self.distances = int(distances)
        if not 0 <= spectral <= n_max:
            raise ConfigError(f"spectral must lie in [0, n_max={n_max}], got {spectral}")
        self.spectral = int(spectral)
        if self.self_condition:
            extra_node, extra_pair = (3, 1) if self.components else (0, 0)
            self.sc_node = nn.Linear(node_dim + edge_dim + len(self.WALKS) + 2 * self.spectral + extra_node, node_width)
            self.sc_edge = nn.Linear(edge_dim + len(self.PATHS) + self.spectral + extra_pair + self.distances, edge_width)
        self.cond_dim = cond_dim
        self.emb = Conditioning(node_width, cond_dim)
        self.node_in = nn.Linear(node_dim, node_width) if node_dim > 0 else None
        self.node_bias = nn.Parameter(torch.zeros(node_width))
        self.edge_in = nn.Linear(edge_dim, edge_width)
        # node inputs also see the mean of their incident edges (the only node signal when F = 0) and the
        # per-channel sum of the raw edge inputs: at low noise, how many bonds of each type a node has
        self.edge_to_node = nn.Linear(edge_width, node_width)
        self.degree_to_node = nn.Linear(edge_dim, node_width)
        self.node_out_norm = nn.LayerNorm(node_width)
        self.edge_out_norm = nn.LayerNorm(edge_width)
        self.node_out = nn.Linear(node_width, node_dim) if node_dim > 0 else None
        self.edge_out = nn.Linear(edge_width, edge_dim)

    def _structure(self, L: GraphLayout, estimate: Tensor, node_mask: Tensor, pair_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Node (B, n, ·) and pair (B, n, n, ·) features of a clean estimate (B, dim) of layout L, in data units."""
        nodes, edges = L.unpack(estimate)
        pm = pair_mask.unsqueeze(-1)
        p_edge = (edges + 0.5).clamp(0, 1) * pm  # channel probabilities; the ±0.5 one-hot convention
        A = p_edge[..., 0] if L.edge_dim == 1 else (1 - p_edge[..., 0]) * pair_mask  # channel 0 = "none"
        walks, paths, Ak = [], [], A
        for k in range(2, max(self.WALKS) + 1):
            Ak = Ak @ A
            if k in self.WALKS:
                walks.append(torch.diagonal(Ak, dim1=1, dim2=2))
            if k in self.PATHS:
                paths.append(Ak)
        node_feats = [(nodes + 0.5).clamp(0, 1), p_edge.sum(2), torch.stack(walks, -1).log1p()]
        pair_feats = [p_edge, torch.stack(paths, -1).log1p() * pm]
        # a row without an estimate (all zeros) has a degenerate spectrum whose eigenvectors are
        # arbitrary, so not equivariant, and no components: its features are zero instead
        has = (estimate.abs().amax(dim=1) > 0).to(A.dtype).view(-1, 1, 1)
        if self.spectral:
            sn, sp = self._spectral(A, node_mask)
            node_feats.append(sn * has)
            pair_feats.append(sp * has.unsqueeze(-1) * pm)
        if self.components:
            cn, cp = connected_components(A > 0.5, node_mask)
            node_feats.append(cn.to(A.dtype) * has)
            pair_feats.append(cp.to(A.dtype).unsqueeze(-1) * has.unsqueeze(-1) * pm)
        if self.distances:
            pair_feats.append(path_distances(A > 0.5, node_mask, self.distances).to(A.dtype) * has.unsqueeze(-1) * pm)
        node_feats = torch.cat(node_feats, -1)
        return node_feats * node_mask.unsqueeze(-1), torch.cat(pair_feats, -1)

    def _spectral(self, A: Tensor, node_mask: Tensor) -> tuple[Tensor, Tensor]:
        """A (B, n, n) soft adjacency -> node (B, n, 2K) and pair (B, n, n, K) eigen-features."""
        K, n = self.spectral, A.shape[-1]
        # the shift is the full layout's, also for a trimmed group: graphs smaller than K read the
        # padding eigenvalues λ_k/n, which must not depend on how far the batch was trimmed
        shift = 2 * self.layout.n_max + 1
        Af = A if A.dtype == torch.float64 else A.float()  # eigh has no half-precision kernels
        nm = node_mask.to(Af.dtype)
        n_real = nm.sum(1).clamp(min=1).view(-1, 1, 1)
        # padding nodes get a negative self-loop beyond A's spectral radius (entries lie in [0, 1]), so
        # their eigenvalues sort last and the leading eigenvectors live on the real nodes only
        evals, evecs = torch.linalg.eigh(Af - shift * torch.diag_embed(1 - nm))  # ascending
        lam, V = evals.flip(-1)[:, :K], evecs.flip(-1)[:, :, :K]  # (B, K), (B, n, K)
        V = V * nm.unsqueeze(-1)
        node = torch.cat([n_real * V**2, (lam.unsqueeze(1) / n_real).expand(-1, n, -1)], -1)
        pair = n_real.unsqueeze(-1) * V.unsqueeze(2) * V.unsqueeze(1)
        return node.to(A.dtype), pair.to(A.dtype)

    def _prepare(
        self,
        L: GraphLayout,
        x_in: Tensor,
        c_noise: Tensor,
        cond: Tensor | None,
        mask: Tensor | None,
        self_cond: Tensor | None = None,
    ):
        # L is self.layout or, for a trimmed group, its sub-layout; the scales stay those of n_max
        n_max = self.layout.n_max
        if x_in.dim() != 2 or x_in.shape[1] != L.dim:
            raise ValueError(f"expected x of shape (B, {L.dim}) for {L}, got {tuple(x_in.shape)}")
        B = x_in.shape[0]
        if mask is None:
            node_mask = x_in.new_ones(B, L.n_max)
        else:
            node_mask = L.node_mask(mask).to(x_in.dtype)
        eye = torch.eye(L.n_max, device=x_in.device, dtype=x_in.dtype)
        pair_mask = node_mask.unsqueeze(2) * node_mask.unsqueeze(1) * (1 - eye)
        nodes, edges = L.unpack(x_in)
        e = self.edge_in(edges) * pair_mask.unsqueeze(-1)
        deg = pair_mask.sum(-1, keepdim=True).clamp(min=1)
        counts = (edges * pair_mask.unsqueeze(-1)).sum(2) * n_max**-0.5
        h = self.node_bias.expand(B, L.n_max, -1) + self.edge_to_node(e.sum(2) / deg) + self.degree_to_node(counts)
        if self.node_in is not None:
            h = h + self.node_in(nodes)
        if self.self_condition:
            est = torch.zeros_like(x_in) if self_cond is None else self_cond.to(x_in.dtype)
            node_feats, pair_feats = self._structure(L, est, node_mask, pair_mask)
            h = h + self.sc_node(node_feats)
            e = e + self.sc_edge(pair_feats) * pair_mask.unsqueeze(-1)
        h = h * node_mask.unsqueeze(-1)
        size_frac = node_mask.sum(1) / n_max
        c = torch.as_tensor(c_noise, device=x_in.device).to(x_in.dtype).reshape(-1)
        emb = self.emb(c.expand(B) if c.numel() == 1 else c, size_frac, cond)
        return h, e, emb, node_mask, pair_mask

    def _finish(self, L: GraphLayout, h: Tensor, e: Tensor, node_mask: Tensor, pair_mask: Tensor, mask: Tensor | None) -> Tensor:
        B = h.shape[0]
        e = self.edge_out(self.edge_out_norm(e))
        e = 0.5 * (e + e.transpose(1, 2))  # exact symmetry, whatever rounding did
        if self.node_out is not None:
            nodes = self.node_out(self.node_out_norm(h)) * node_mask.unsqueeze(-1)
        else:
            nodes = h.new_zeros(B, L.n_max, 0)
        out = L.pack_values(nodes, e * pair_mask.unsqueeze(-1))
        return out if mask is None else out * mask.to(out.dtype)


class GraphTransformer(_GraphNetBase):
    """Dense, permutation-equivariant graph transformer on the flat graph layout.

    Args: n_max, node_dim (F), edge_dim (C) fix the layout; node_width/edge_width the stream
    widths; depth blocks; heads attention heads; cond_dim float properties (0 = none).
    self_condition: also read a previous clean estimate (see the module docstring).
    spectral: K leading eigenvectors of the self-conditioning estimate as features (0 = none).
    components: connected-component features of the thresholded estimate.
    distances: one-hot shortest-path distances 1…K in the thresholded estimate (0 = none).
    trim_padding: with a mask, cut the batch into groups of similar size (:mod:`.size_groups`) and run
    each at its largest graph: the same function, less padding work. group_overhead: the cost model's
    price of a pass (default: two graphs at n_max).
    forward(x_in (B, dim), c_noise (B,), cond (B, k) | None, mask (B, dim) | None, self_cond (B, dim) | None) -> (B, dim).
    """

    def __init__(
        self,
        n_max: int,
        node_dim: int,
        edge_dim: int,
        node_width: int = 96,
        edge_width: int = 48,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        cond_dim: int = 0,
        self_condition: bool = False,
        spectral: int = 0,
        components: bool = False,
        distances: int = 0,
        trim_padding: bool = True,
        group_overhead: float | None = None,
    ):
        super().__init__(
            n_max, node_dim, edge_dim, node_width, edge_width, cond_dim, self_condition, spectral, components, distances
        )
        self.trim_padding = bool(trim_padding)
        # the fixed price of one more pass, as the work of this many graphs at n_max (measured:
        # benchmarks/graph_size_groups.py)
        self.group_overhead = float(group_overhead if group_overhead is not None else 2.0 * graph_cost(n_max))
        self.blocks = nn.ModuleList(
            GraphTransformerBlock(node_width, edge_width, heads, node_width, mlp_ratio, dropout) for _ in range(depth)
        )

    def forward(
        self,
        x_in: Tensor,
        c_noise: Tensor,
        cond: Tensor | None = None,
        mask: Tensor | None = None,
        self_cond: Tensor | None = None,
    ) -> Tensor:
        L = self.layout
        if mask is None or not self.trim_padding:
            return self._forward_layout(L, x_in, c_noise, cond, mask, self_cond)
        if x_in.dim() != 2 or x_in.shape[1] != L.dim or mask.shape != x_in.shape:
            raise ValueError(f"expected x and mask of shape (B, {L.dim}) for {L}, got {tuple(x_in.shape)}, {tuple(mask.shape)}")
        sizes = L.n_nodes(mask)
        groups = graph_size_groups(sizes, self.group_overhead)
        B = x_in.shape[0]
        c = torch.as_tensor(c_noise, device=x_in.device).reshape(-1)
        c = c.expand(B) if c.numel() == 1 else c
        outs, order = [], []
        for idx in groups:
            # a floor of 2 nodes (and of K for K spectral features) keeps every shape non-degenerate;
            # padding is exact, so the floor only costs
            sub, pos = L.sub(min(max(int(sizes[idx].max()), 2, self.spectral), L.n_max), x_in.device)
            idx = idx.to(x_in.device)
            rows = lambda t: None if t is None else t[idx]  # noqa: E731
            cols = lambda t: None if t is None else t[idx][:, pos]  # noqa: E731
            y = self._forward_layout(sub, cols(x_in), c[idx], rows(cond), cols(mask), cols(self_cond))
            outs.append(torch.index_copy(x_in.new_zeros(len(idx), L.dim), 1, pos, y))
            order.append(idx)
        out, order = torch.cat(outs), torch.cat(order)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(B, device=order.device)
        return out[inverse]

    def _forward_layout(
        self, L: GraphLayout, x_in: Tensor, c_noise: Tensor, cond: Tensor | None, mask: Tensor | None, self_cond: Tensor | None
    ) -> Tensor:
        """The net on graphs in layout L (self.layout, or a trimmed sub-layout of it)."""
        h, e, emb, nm, pm = self._prepare(L, x_in, c_noise, cond, mask, self_cond)
        # the edge stream is symmetric with a zero diagonal: the blocks keep each pair i < j once
        pairs = L.pairs
        e, pm_pairs = pairs.to_pairs(e), pairs.to_pairs(pm)
        for blk in self.blocks:
            h, e = blk(h, e, emb, nm, pm_pairs, pairs, self.layout.n_max)
        return self._finish(L, h, pairs.to_full(e), nm, pm, mask)


def build_backbone(n_max: int, node_dim: int, edge_dim: int, type: str = "transformer", **kw) -> nn.Module:
    """The graph transformer (``type: transformer``, the only one); other keys go to its constructor."""
    kw.pop("_target_", None)
    if type != "transformer":
        raise ConfigError(f"unknown graph backbone type {type!r}; use 'transformer'")
    return GraphTransformer(n_max, node_dim, edge_dim, **kw)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
