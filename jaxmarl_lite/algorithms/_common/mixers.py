"""Value-decomposition mixers: VDN (sum) and QMIX (monotonic hypernetwork).

A mixer maps the chosen agents' Q-values ``agent_qs [..., num_agents]`` and the global state
``state [..., state_dim]`` to a joint ``Q_tot [...]``. Both are monotonic in every agent's
Q-value (``dQ_tot/dQ_i >= 0``), so per-agent greedy actions are greedy for ``Q_tot`` too.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmarl_lite.algorithms._common.networks import dense


def vdn(agent_qs: jax.Array, state: jax.Array | None = None) -> jax.Array:
    """VDN (Sunehag et al. 2018): ``Q_tot = sum_i Q_i``. ``[..., N] -> [...]``."""
    del state
    return agent_qs.sum(-1)


class QMixer(nn.Module):
    """QMIX (Rashid et al. 2018). Hypernetworks on the global state produce the mixing
    weights; their absolute value keeps ``Q_tot`` monotonic in each ``Q_i``.

    ``__call__(agent_qs [..., N], state [..., S]) -> Q_tot [...]``:
    ``h = elu(Q @ |W1(s)| + b1(s))``, ``Q_tot = h . |w2(s)| + V(s)``, with ``W1``/``w2``
    from ``hypernet_layers`` (1 or 2) dense layers of ``hypernet_hidden`` units.

    ``init_scale`` is the orthogonal gain of every kernel in the mixer; ``None`` uses the
    usual gains (sqrt(2) before a ReLU, 1 on outputs). A small scale (JaxMARL uses 0.001)
    starts ``Q_tot`` near zero with nearly flat mixing weights, which the hypernetworks then
    grow; with unit gains the initial ``|W1|``, ``|w2|`` multiply the agents' Q-values by
    state-dependent factors of order one per layer from the first update.
    """

    embed_dim: int = 32
    hypernet_hidden: int = 64
    hypernet_layers: int = 2
    init_scale: float | None = None

    @nn.compact
    def __call__(self, agent_qs: jax.Array, state: jax.Array) -> jax.Array:
        n = agent_qs.shape[-1]
        batch_shape = agent_qs.shape[:-1]  # as one [M, N] batch (see networks.on_rows)
        agent_qs = agent_qs.reshape(-1, n)
        state = state.astype(jnp.float32).reshape(agent_qs.shape[0], -1)

        def layer(out: int, before_relu: bool = False) -> nn.Dense:
            if self.init_scale is not None:
                return dense(out, self.init_scale)
            return dense(out) if before_relu else dense(out, 1.0)

        def hyper(out: int) -> jax.Array:
            if self.hypernet_layers == 1:
                return layer(out)(state)
            return layer(out)(nn.relu(layer(self.hypernet_hidden, True)(state)))

        w1 = jnp.abs(hyper(n * self.embed_dim)).reshape(*state.shape[:-1], n, self.embed_dim)
        b1 = layer(self.embed_dim)(state)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", agent_qs, w1) + b1)
        w2 = jnp.abs(hyper(self.embed_dim))
        v = layer(1)(nn.relu(layer(self.embed_dim, True)(state)))[..., 0]
        return ((hidden * w2).sum(-1) + v).reshape(batch_shape)
