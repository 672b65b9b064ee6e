"""Network building blocks shared by all algorithms (flax linen).

Conventions: agents are handled by the caller (vmap over the agent axis, or a leading
batch axis with an agent-id one-hot appended for parameter sharing); recurrent modules
take time-major sequences ``[T, B, ...]`` plus a ``resets`` flag ``[T, B]`` that zeroes
the hidden state *before* processing the step where it is true (an episode start).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def orthogonal(scale: float = 1.0):
    """Orthogonal kernel initialiser for 2-D kernels ``[fan_in, fan_out]``: the distribution
    of ``flax.linen.initializers.orthogonal`` (the Q factor, with a positive-diagonal R, of
    a Gaussian matrix, transposed when wide), computed by Gram-Schmidt with
    re-orthogonalisation (matmuls only) instead of LAPACK's QR.

    Why: under ``vmap`` (per-agent parameters, or ``jax.vmap(train)`` over seeds) the QR
    becomes a batched LAPACK call that jaxlib 0.10 splits over XLA:CPU's intra-op thread
    pool and waits on from inside that pool; with as many concurrent QRs as pool threads
    (2 on a 2-core machine) every thread waits and the process hangs with idle cores.
    """

    def init(key, shape, dtype=jnp.float32):
        if len(shape) != 2:
            raise ValueError(f"orthogonal: expected a 2-D kernel shape, got {shape}")
        rows, cols = shape
        tall = (rows, cols) if rows >= cols else (cols, rows)
        q = orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        return (scale * (q if rows >= cols else q.T)).astype(dtype)

    return init


def orthonormal_columns(a: jax.Array) -> jax.Array:
    """``Q`` of ``a = QR`` (``[m, n]``, ``m >= n``, ``diag(R) > 0``) by classical
    Gram-Schmidt applied twice per column (orthogonal to float32 working precision)."""

    def column(j, q):
        v = a[:, j]
        v = v - q @ (q.T @ v)  # columns >= j of q are still zero
        v = v - q @ (q.T @ v)
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    return jax.lax.fori_loop(0, a.shape[1], column, jnp.zeros_like(a))


def dense(features: int, scale: float = np.sqrt(2.0)) -> nn.Dense:
    """Orthogonally initialised dense layer with zero bias (PPO/DQN practice)."""
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros)


class MLP(nn.Module):
    """``hidden_sizes`` dense layers with ``activation``; optional final linear ``out_dim``."""

    hidden_sizes: Sequence[int]
    out_dim: Optional[int] = None
    activation: str = "relu"
    out_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for h in self.hidden_sizes:
            x = dense(h)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        if self.out_dim is not None:
            x = dense(self.out_dim, self.out_scale)(x)
        return x


class ConvTorso(nn.Module):
    """``x [..., D] -> [..., F]``: the first ``H * W * C`` features of ``x`` are an image
    (row-major ``[H, W, C]``); 3x3 stride-2 ``SAME`` convolutions with ``channels`` and
    ``activation``, flattened, then the remaining features of ``x`` appended.

    Each convolution is computed as image patches times a ``[9 C, C_out]`` matrix (the
    kernel is stored ``[3, 3, C, C_out]``, HWIO, as ``flax.linen.Conv``'s): inside the
    training loop's ``lax.scan``, XLA:CPU runs ``lax.conv`` and its gradients ~20x slower
    than outside a loop, while patches and a matmul keep their speed (measured on jaxlib
    0.10: 18 s against 1 s per 5120-image minibatch).
    """

    image_shape: Tuple[int, int, int]
    channels: Sequence[int] = (16, 32)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act, size = activation(self.activation), int(np.prod(self.image_shape))
        lead = x.shape[:-1]
        y = x[..., :size].reshape(-1, *self.image_shape)
        for i, c in enumerate(self.channels):
            kernel = self.param(f"kernel_{i}", nn.initializers.lecun_normal(),
                                (3, 3, y.shape[-1], c))
            bias = self.param(f"bias_{i}", nn.initializers.zeros, (c,))
            patches = jax.lax.conv_general_dilated_patches(  # [B, H', W', C * 9], C-major
                y, (3, 3), (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            y = act(patches @ kernel.transpose(2, 0, 1, 3).reshape(-1, c) + bias)
        return jnp.concatenate([y.reshape(*lead, -1), x[..., size:]], axis=-1)


COMM_KINDS = ("none", "mean", "attention")


class MessageChannel(nn.Module):
    """What each agent receives: ``h [..., N, H] -> [..., N, dim]``.

    Every agent ``j`` computes from its own features a message (``mean``: ``m_j``, CommNet,
    Sukhbaatar et al. 2016) or a signature ``k_j`` and a value ``v_j`` plus a query ``q_j``
    (``attention``: TarMAC, Das et al. 2019); agent ``i`` receives the mean of the others'
    messages, or ``sum_j softmax_j(q_i . k_j / sqrt(dim)) v_j`` over the others. Nothing
    but these messages crosses between agents. One agent alone receives zeros.
    """

    kind: str
    dim: int

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        n = h.shape[-2]
        if n == 1:
            return jnp.zeros(h.shape[:-1] + (self.dim,), h.dtype)
        others = 1.0 - jnp.eye(n, dtype=h.dtype)  # [N(receiver), N(sender)]
        if self.kind == "mean":
            return jnp.einsum("ij,...jc->...ic", others, dense(self.dim, 1.0)(h)) / (n - 1)
        query, key, value = (dense(self.dim, 1.0)(h) for _ in range(3))
        logits = jnp.einsum("...ic,...jc->...ij", query, key) / np.sqrt(self.dim)
        weights = jax.nn.softmax(jnp.where(others > 0, logits, -1e9), axis=-1)
        return jnp.einsum("...ij,...jc->...ic", weights, value)


class Communication(nn.Module):
    """``rounds`` of message passing over the agent axis: ``h [..., N, H] -> [..., N, H]``,
    each round ``h_i <- act(W [h_i, c_i])`` with ``c_i`` the :class:`MessageChannel`'s
    incoming message (``kind`` ``"mean"`` or ``"attention"``)."""

    kind: str
    dim: int
    rounds: int = 1
    activation: str = "relu"

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for _ in range(self.rounds):
            incoming = MessageChannel(self.kind, self.dim)(h)
            h = act(dense(h.shape[-1])(jnp.concatenate([h, incoming], axis=-1)))
        return h


def communicate(module: Optional[Communication], x: jax.Array, num_agents: int) -> jax.Array:
    """Apply ``module`` to ``x [T, B * N, H]`` (agents innermost, as a shared network sees
    them under :func:`apply_agents`); ``None`` passes ``x`` through."""
    if module is None:
        return x
    t, bn, h = x.shape
    return module(x.reshape(t, bn // num_agents, num_agents, h)).reshape(t, bn, h)


class ScannedGRU(nn.Module):
    """A GRU scanned over a time-major sequence, resetting its carry at episode starts.

    ``__call__(carry [B, H], (x [T, B, D], resets [T, B])) -> (carry [B, H], y [T, B, H])``.

    The gates are those of ``flax.linen.GRUCell`` (``r``, ``z`` from input and hidden,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``), with the
    input projections of all ``T`` steps computed before the scan as one matmul and the
    sequential loop left with the three ``[B, H] @ [H, H]`` hidden projections per step
    (on XLA:CPU these beat one fused ``[H, 3H]`` matmul).
    """

    hidden_size: int
    unroll: int = 1
    """Time steps per loop iteration of the scan."""

    @nn.compact
    def __call__(
        self, carry: jax.Array, inputs: Tuple[jax.Array, jax.Array]
    ) -> Tuple[jax.Array, jax.Array]:
        x, resets = inputs
        h_size = self.hidden_size
        w_i = self.param("w_input", nn.initializers.lecun_normal(), (x.shape[-1], 3 * h_size))
        b_i = self.param("b_input", nn.initializers.zeros, (3 * h_size,))
        w_h = self.param("w_hidden", _stacked_orthogonal(3), (h_size, 3 * h_size))
        b_hn = self.param("b_hidden_n", nn.initializers.zeros, (h_size,))
        xi = x @ w_i + b_i  # [T, B, 3H], all steps at once
        x_r, x_z, x_n = jnp.split(xi, 3, axis=-1)
        w_r, w_z, w_n = jnp.split(w_h, 3, axis=-1)  # three [H, H] matmuls beat one [H, 3H]

        def step(h, xs):
            a_r, a_z, a_n, reset = xs
            h = jnp.where(reset[:, None], jnp.zeros_like(h), h)
            r = nn.sigmoid(a_r + h @ w_r)
            z = nn.sigmoid(a_z + h @ w_z)
            n = jnp.tanh(a_n + r * (h @ w_n + b_hn))
            h = (1.0 - z) * n + z * h
            return h, h

        return jax.lax.scan(step, carry, (x_r, x_z, x_n, resets), unroll=self.unroll)

    @staticmethod
    def initial_carry(batch_shape: Tuple[int, ...], hidden_size: int) -> jax.Array:
        return jnp.zeros((*batch_shape, hidden_size), jnp.float32)


def _stacked_orthogonal(blocks: int):
    """``[H, blocks * H]``: an orthogonal ``[H, H]`` block per gate (as GRUCell's init)."""
    ortho = orthogonal()

    def init(key, shape, dtype=jnp.float32):
        h = shape[0]
        keys = jax.random.split(key, blocks)
        return jnp.concatenate([ortho(k, (h, h), dtype) for k in keys], axis=1)

    return init


def agent_id_onehot(num_agents: int, batch_shape: Tuple[int, ...] = ()) -> jax.Array:
    """``[*batch_shape, num_agents, num_agents]`` identity rows, to append to observations."""
    eye = jnp.eye(num_agents, dtype=jnp.float32)
    return jnp.broadcast_to(eye, (*batch_shape, num_agents, num_agents))


def apply_agents(network: nn.Module, sharing: bool, params, hidden, inputs, resets):
    """Apply a recurrent-signature ``network`` (``(hidden [B, H], x [T, B, D], resets [T, B])
    -> (hidden, y [T, B, ...])``) to every agent.

    ``hidden [B, N, H]``, ``inputs [T, B, N, D]``, ``resets [T, B]`` -> ``(hidden [B, N, H],
    y [T, B, N, ...])``. With ``sharing`` one parameter set serves all agents and an agent-id
    one-hot is appended to the inputs; otherwise ``params`` has a leading ``[N]`` axis and
    the network is vmapped over agents.
    """
    t, b, n, _ = inputs.shape
    resets = jnp.broadcast_to(resets[:, :, None], (t, b, n))
    if sharing:
        inputs = jnp.concatenate([inputs, agent_id_onehot(n, (t, b))], axis=-1)
        flat = lambda x: x.reshape(x.shape[0], b * n, *x.shape[3:])  # noqa: E731
        hidden, y = network.apply(params, hidden.reshape(b * n, -1), flat(inputs), flat(resets))
        return hidden.reshape(b, n, -1), y.reshape(t, b, n, *y.shape[2:])
    return jax.vmap(network.apply, in_axes=(0, 1, 2, 2), out_axes=(1, 2))(
        params, hidden, inputs, resets)
