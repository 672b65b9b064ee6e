"""Network building blocks shared by all algorithms (flax linen).

Conventions: agents are handled by the caller (vmap over the agent axis, or a leading
batch axis with an agent-id one-hot appended for parameter sharing); recurrent modules
take time-major sequences ``[T, B, ...]`` plus a ``resets`` flag ``[T, B]`` that zeroes
the hidden state *before* processing the step where it is true (an episode start).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional, Sequence, Tuple

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
    """Orthogonally initialised dense layer with zero bias (PPO/DQN practice); its product
    is :func:`rows_matmul` (the same forward, a kernel gradient XLA:CPU runs faster)."""
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros,
                    dot_general=dense_dot_general)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``flax.linen.Dense``'s product, ``lhs [..., D]`` by a kernel ``[D, K]``, as
    :func:`rows_matmul` on ``lhs``'s rows; any other contraction is ``lax.dot_general``'s."""
    (lhs_c, rhs_c), (lhs_b, rhs_b) = dimension_numbers
    if (rhs.ndim == 2 and tuple(lhs_c) == (lhs.ndim - 1,) and tuple(rhs_c) == (0,)
            and not lhs_b and not rhs_b and precision is None and preferred_element_type is None):
        y = rows_matmul(lhs.reshape(-1, lhs.shape[-1]), rhs)
        return y.reshape(*lhs.shape[:-1], rhs.shape[1])
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type)


@jax.custom_vjp
def rows_matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x [M, D] @ w [D, K] -> [M, K]`` with the kernel gradient ``x^T g`` of
    :func:`kernel_grad`. The forward and the input gradient ``g w^T`` are autodiff's; as
    any ``custom_vjp`` function it has reverse-mode derivatives only."""
    return x @ w


def _rows_matmul_fwd(x, w):
    return x @ w, (x, w)


def _rows_matmul_bwd(saved, g):
    x, w = saved
    return jax.lax.dot_general(g, w, (((1,), (1,)), ((), ()))), kernel_grad(x, g)


rows_matmul.defvjp(_rows_matmul_fwd, _rows_matmul_bwd)

_ROWS = (((0,), (0,)), ((), ()))  # contract the rows of both: x^T g


def kernel_grad(x: jax.Array, g: jax.Array) -> jax.Array:
    """A dense layer's kernel gradient ``x^T g`` (``x [M, D]``, ``g [M, K]`` -> ``[D, K]``),
    a sum over the ``M`` rows.

    On CPU (:func:`kernel_grad_form`) small kernels over many rows take another form of the
    same sum; elsewhere it is the plain product. Why: XLA:CPU runs a product that contracts
    the rows of both operands (not a YNNPACK fusion) at 20-25 GMAC/s on the 2-core Xeon of
    our benchmarks, against ~50 for the forward ``[M, D] @ [D, K]``, and a kernel with
    2-8 outputs far slower still (2.6 GMAC/s for ``[1536, 64]^T [1536, 5]``)."""
    return jax.lax.platform_dependent(x, g, cpu=_kernel_grad_cpu, default=_kernel_grad_product)


def _kernel_grad_product(x, g):
    """``x^T g`` as one product (autodiff's form)."""
    return jax.lax.dot_general(x, g, _ROWS)


def _kernel_grad_multiply_reduce(x, g):
    """``x^T g`` as one multiply-reduce fusion (for kernels with a few outputs)."""
    return (x[:, :, None] * g[:, None, :]).sum(0)


def _kernel_grad_halves(x, g):
    """``x^T g`` as the two halves of the rows in one batched product, added (even rows)."""
    rows, d = x.shape
    halves = jnp.einsum("hmd,hmk->hdk", x.reshape(2, rows // 2, d),
                        g.reshape(2, rows // 2, g.shape[1]))
    return halves.sum(0)


KERNEL_GRAD_FORMS = {"product": _kernel_grad_product,
                     "multiply_reduce": _kernel_grad_multiply_reduce,
                     "halves": _kernel_grad_halves}
"""The forms of ``x^T g`` that :func:`kernel_grad_form` picks from on CPU."""


def kernel_grad_forms_for(rows: int) -> dict:
    """The forms of :data:`KERNEL_GRAD_FORMS` that apply to ``rows`` rows (``halves`` needs
    an even count)."""
    return {name: f for name, f in KERNEL_GRAD_FORMS.items() if name != "halves" or rows % 2 == 0}


def kernel_grad_form(rows: int, d: int, k: int) -> str:
    """The CPU form of the kernel gradient of ``rows`` rows, ``d`` inputs, ``k`` outputs (a
    key of :data:`KERNEL_GRAD_FORMS`; decided at trace time from static shapes):

    - 2-8 outputs, at most 4096 rows: ``multiply_reduce`` (1.2-2.9x the product at 768-1536
      rows and 21-256 inputs, 1.0-2.4x with 4 seeds vmapped; slower from ~6k rows with
      <= 64 inputs);
    - a kernel of at most 4096 entries over 1024-4096 rows (even): ``halves`` (1.1-1.6x at
      ``[1536, 64]^T [1536, 64]``, seeds vmapped or not; 0.7-1.2x at other shapes of this
      window, so it stands on the loops' totals);
    - otherwise the ``product``.

    The ratios are the 2-core Xeon's (``python benchmarks/dense_gradient.py --forms`` times
    the forms alone on any machine; ``benchmarks/results/dense_gradient_forms.md``: the
    picked form 0.98-2.58x the product on the loops' layer shapes). In the training loops
    (alternating runs, ``benchmarks/dense_gradient.py``): 8 seeds of IPPO-FF at JaxMARL's
    settings 1.15-1.21x in three measurements; single-seed IPPO-FF, QMIX, PQN and recurrent
    MAPPO 0.93-1.21x, inside the machine's drift (see docs/benchmarks.md)."""
    if 1 < k <= 8 and rows <= 4096:
        return "multiply_reduce"
    if d * k <= 4096 and 1024 <= rows <= 4096 and rows % 2 == 0:
        return "halves"
    return "product"


def _kernel_grad_cpu(x, g):
    """``x^T g`` in the form :func:`kernel_grad_form` picks for the shapes."""
    return KERNEL_GRAD_FORMS[kernel_grad_form(*x.shape, g.shape[1])](x, g)


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


def on_rows(f: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """``f`` (a row-wise layer, ``[M, D] -> [M, K]``) applied to ``x [..., D]`` as one
    ``[M, D]`` matrix, back as ``[..., K]``. XLA:CPU runs dense layers and their gradients
    faster on a 2-D matrix than on ``[T, B, D]`` (LayerNorm ~2x), so the networks' layers
    outside a scan take their batch this way."""
    y = f(x.reshape(-1, x.shape[-1]))
    return y.reshape(*x.shape[:-1], *y.shape[1:])


class GRUResiduals(NamedTuple):
    """What :func:`gru_scan`'s backward pass reads, per step ``[T, B, H]``."""

    h: jax.Array  # the hidden state the step read (zero after a reset)
    r: jax.Array  # reset gate
    z: jax.Array  # update gate
    n: jax.Array  # candidate state
    hn: jax.Array  # h @ W_hn + b_hn


def _gru_forward(h0, xi, keep, w_h, b_hn, unroll, residuals: bool):
    x_r, x_z, x_n = jnp.split(xi, 3, axis=-1)
    w_r, w_z, w_n = jnp.split(w_h, 3, axis=-1)  # three [H, H] matmuls beat one [H, 3H]

    def step(h, xs):
        a_r, a_z, a_n, k = xs
        h = jnp.where(k[:, None] > 0, h, 0.0)
        r = nn.sigmoid(a_r + h @ w_r)
        z = nn.sigmoid(a_z + h @ w_z)
        hn = h @ w_n + b_hn
        n = jnp.tanh(a_n + r * hn)
        out = (1.0 - z) * n + z * h
        return out, (out, GRUResiduals(h, r, z, n, hn) if residuals else None)

    return jax.lax.scan(step, h0, (x_r, x_z, x_n, keep), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def gru_scan(h0, xi, keep, w_h, b_hn, unroll: int = 1):
    """A GRU over a time-major sequence with precomputed input projections.

    ``h0 [B, H]``, ``xi [T, B, 3H]`` (``x @ W_i + b_i``, gates ``r, z, n``), ``keep [T, B]``
    (0 zeroes the state before the step: an episode start), ``w_h [H, 3H]``, ``b_hn [H]``
    -> ``(h_T [B, H], ys [T, B, H])``. The gates are ``flax.linen.GRUCell``'s.

    Its gradient is written out (``jax.custom_vjp``): the backward scan carries only the
    state's cotangent (one ``[B, 3H] @ [3H, H]`` matmul per step) and the hidden weights'
    gradient is one ``[H, T * B] @ [T * B, 3H]`` matmul after it, where autodiff of the scan
    accumulates six small matmuls per step (with :func:`on_rows`, single-seed QMIX on
    simple_spread trains about 25% faster on XLA:CPU). ``keep`` gets no gradient; as any
    ``custom_vjp`` function it has reverse-mode derivatives only (``jax.grad``/``vjp``, not
    ``jvp``/``jacfwd``)."""
    h, (ys, _) = _gru_forward(h0, xi, keep, w_h, b_hn, unroll, residuals=False)
    return h, ys


def _gru_fwd(h0, xi, keep, w_h, b_hn, unroll):
    h, (ys, res) = _gru_forward(h0, xi, keep, w_h, b_hn, unroll, residuals=True)
    return (h, ys), (res, keep, w_h)


def _gru_bwd(unroll, saved, cotangents):
    res, keep, w_h = saved
    g_last, g_ys = cotangents
    w_t = w_h.T  # [3H, H]

    def step(g_next, xs):
        g_y, r, z, n, h, hn, k = xs
        g = g_next + g_y  # d loss / d h_t (this step's output)
        d_n = g * (1.0 - z) * (1.0 - n * n)  # through n = tanh(a_n): d a_n
        d_r = d_n * hn * r * (1.0 - r)  # d a_r
        d_z = g * (h - n) * z * (1.0 - z)  # d a_z
        d_hn = d_n * r
        d_gates = jnp.concatenate([d_r, d_z, d_hn], axis=-1)  # [B, 3H]
        d_h = (g * z + d_gates @ w_t) * k[:, None]  # back through the reset
        return d_h, (jnp.concatenate([d_r, d_z, d_n], axis=-1), d_gates)

    g_h0, (d_xi, d_gates) = jax.lax.scan(
        step, g_last, (g_ys, res.r, res.z, res.n, res.h, res.hn, keep), reverse=True,
        unroll=unroll)
    h_flat = res.h.reshape(-1, res.h.shape[-1])
    d_w_h = h_flat.T @ d_gates.reshape(h_flat.shape[0], -1)  # all steps in one matmul
    h_size = w_h.shape[0]
    d_b_hn = d_gates[..., 2 * h_size:].sum(axis=(0, 1))
    return g_h0, d_xi, jnp.zeros_like(keep), d_w_h, d_b_hn


gru_scan.defvjp(_gru_fwd, _gru_bwd)


class ScannedGRU(nn.Module):
    """A GRU scanned over a time-major sequence, resetting its carry at episode starts.

    ``__call__(carry [B, H], (x [T, B, D], resets [T, B])) -> (carry [B, H], y [T, B, H])``.

    The gates are those of ``flax.linen.GRUCell`` (``r``, ``z`` from input and hidden,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``), with the
    input projections of all ``T`` steps computed before the scan as one matmul and the
    sequential loop left with the three ``[B, H] @ [H, H]`` hidden projections per step
    (on XLA:CPU these beat one fused ``[H, 3H]`` matmul); its gradient is
    :func:`gru_scan`'s.
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
        xi = on_rows(lambda x: x @ w_i + b_i, x)  # [T, B, 3H], all steps at once
        keep = 1.0 - resets.astype(xi.dtype)
        return gru_scan(carry, xi, keep, w_h, b_hn, self.unroll)

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
