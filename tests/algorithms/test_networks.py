"""Shared network pieces: the scanned GRU computes flax's GRUCell (values and gradients) and
resets correctly."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.algorithms._common import networks
from jaxmarl_lite.algorithms._common.networks import ScannedGRU, gru_scan


def test_scanned_gru_matches_grucell_and_resets():
    t, b, d, h = 5, 3, 4, 6
    x = jax.random.normal(jax.random.key(0), (t, b, d))
    resets = jnp.zeros((t, b), bool).at[3, 1].set(True)
    gru = ScannedGRU(h)
    p = gru.init(jax.random.key(1), jnp.zeros((b, h)), (x, resets))["params"]
    wr, wz, wn = jnp.split(p["w_hidden"], 3, axis=1)
    ir, iz, in_ = jnp.split(p["w_input"], 3, axis=1)
    br, bz, bn = jnp.split(p["b_input"], 3)
    cell = nn.GRUCell(h)
    cp = {"ir": {"kernel": ir, "bias": br}, "iz": {"kernel": iz, "bias": bz},
          "in": {"kernel": in_, "bias": bn}, "hr": {"kernel": wr}, "hz": {"kernel": wz},
          "hn": {"kernel": wn, "bias": p["b_hidden_n"]}}
    carry = jax.random.normal(jax.random.key(2), (b, h))
    ours_carry, ours = gru.apply({"params": p}, carry, (x, resets))
    ref, hs = carry, []
    for i in range(t):
        ref = jnp.where(resets[i][:, None], 0.0, ref)
        ref, _ = cell.apply({"params": cp}, ref, x[i])
        hs.append(ref)
    np.testing.assert_allclose(ours, jnp.stack(hs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_carry, ref, rtol=1e-5, atol=1e-6)
    # after the reset, env 1 evolves as from a zero carry
    _, fresh = gru.apply({"params": p}, jnp.zeros((b, h)), (x[3:], jnp.zeros((2, b), bool)))
    np.testing.assert_allclose(ours[3:, 1], fresh[:, 1], rtol=1e-5, atol=1e-6)


def _autodiff_gru(h0, xi, keep, w_h, b_hn):
    """The GRU written step by step, differentiated by JAX (the reference for gru_scan's
    hand-written gradient)."""
    x_r, x_z, x_n = jnp.split(xi, 3, axis=-1)
    w_r, w_z, w_n = jnp.split(w_h, 3, axis=-1)

    def step(h, xs):
        a_r, a_z, a_n, k = xs
        h = jnp.where(k[:, None] > 0, h, 0.0)
        r = nn.sigmoid(a_r + h @ w_r)
        z = nn.sigmoid(a_z + h @ w_z)
        n = jnp.tanh(a_n + r * (h @ w_n + b_hn))
        h = (1 - z) * n + z * h
        return h, h

    return jax.lax.scan(step, h0, (x_r, x_z, x_n, keep))


@pytest.mark.parametrize("unroll", [1, 3])
def test_gru_scan_gradient_matches_autodiff(unroll):
    t, b, h = 7, 5, 4
    k = jax.random.split(jax.random.key(3), 7)
    h0, xi = jax.random.normal(k[0], (b, h)), jax.random.normal(k[1], (t, b, 3 * h))
    keep = (jax.random.uniform(k[2], (t, b)) > 0.3).astype(jnp.float32)  # resets mid-sequence
    w_h, b_hn = jax.random.normal(k[3], (h, 3 * h)), jax.random.normal(k[4], (h,))
    ct_ys, ct_last = jax.random.normal(k[5], (t, b, h)), jax.random.normal(k[6], (b, h))

    def objective(fn):  # both outputs carry a cotangent
        def f(h0, xi, w_h, b_hn):
            last, ys = fn(h0, xi, keep, w_h, b_hn)
            return (last * ct_last).sum() + (ys * ct_ys).sum()
        return f

    ours = lambda *a: gru_scan(*a, unroll)  # noqa: E731
    for got, want in zip(ours(h0, xi, keep, w_h, b_hn), _autodiff_gru(h0, xi, keep, w_h, b_hn)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    args = (h0, xi, w_h, b_hn)
    grads = jax.grad(objective(ours), argnums=(0, 1, 2, 3))(*args)
    want = jax.grad(objective(_autodiff_gru), argnums=(0, 1, 2, 3))(*args)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    # under vmap (per-agent parameters, seeds): one gradient per weight set
    ws = jnp.stack([w_h, 0.5 * w_h])
    got = jax.vmap(jax.grad(objective(ours), argnums=2), (None, None, 0, None))(h0, xi, ws, b_hn)
    want = jax.vmap(jax.grad(objective(_autodiff_gru), argnums=2),
                    (None, None, 0, None))(h0, xi, ws, b_hn)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_orthogonal_init_matches_flax_without_lapack():
    from jaxmarl_lite.algorithms._common.networks import orthogonal

    for shape in [(7, 3), (3, 7), (16, 16)]:
        key = jax.random.key(4)
        ours = orthogonal(2.0)(key, shape)
        ref = nn.initializers.orthogonal(2.0)(key, shape)  # same Gaussian draw, LAPACK QR
        np.testing.assert_allclose(ours, ref, atol=2e-5)
        small = min(shape)
        gram = ours.T @ ours if shape[0] >= shape[1] else ours @ ours.T
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)
    # batched (vmapped) init lowers to matmuls only: no LAPACK custom call
    batched = jax.jit(jax.vmap(lambda k: orthogonal()(k, (8, 8))))
    hlo = batched.lower(jax.random.split(jax.random.key(0), 4)).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo


# ------------------------------------------------------------------ communication
def test_message_channel_mean_and_attention_exclude_the_receiver():
    from jaxmarl_lite.algorithms._common.networks import MessageChannel
    h = jax.random.normal(jax.random.key(0), (2, 3, 4))  # [B, N=3, H]
    mean = MessageChannel("mean", 5)
    p = mean.init(jax.random.key(1), h)
    msgs = nn.Dense(5).apply({"params": p["params"]["Dense_0"]}, h)  # each sender's message
    got = mean.apply(p, h)
    np.testing.assert_allclose(got[:, 0], (msgs[:, 1] + msgs[:, 2]) / 2, rtol=1e-5, atol=1e-6)
    att = MessageChannel("attention", 5)
    pa = att.init(jax.random.key(2), h)
    value = nn.Dense(5).apply({"params": pa["params"]["Dense_2"]}, h)
    # changing a receiver's own value never changes what it receives
    bumped = h.at[:, 0].add(3.0)
    out, out2 = att.apply(pa, h), att.apply(pa, bumped)
    assert out.shape == (2, 3, 5) and not np.allclose(out[:, 1], out2[:, 1])
    q = nn.Dense(5).apply({"params": pa["params"]["Dense_0"]}, h)
    k = nn.Dense(5).apply({"params": pa["params"]["Dense_1"]}, h)
    w = jax.nn.softmax(jnp.einsum("bc,bjc->bj", q[:, 0], k[:, 1:]) / np.sqrt(5), axis=-1)
    np.testing.assert_allclose(out[:, 0], jnp.einsum("bj,bjc->bc", w, value[:, 1:]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(MessageChannel("mean", 5).apply(p, h[:, :1]), 0.0)


def test_a_trained_comm_policy_uses_its_messages():
    import jaxmarl_lite as jl
    from jaxmarl_lite.algorithms import mappo
    from jaxmarl_lite.algorithms._common.networks import MessageChannel
    env = jl.make("grid_meet", observe_others=False, random_starts=True)
    cfg = mappo.PRESETS["grid_quick"].replace(total_timesteps=20_480, comm="mean")
    params = jax.jit(mappo.make_train(cfg, env))(jax.random.key(0)).carry.params
    policy = mappo.make_policy(cfg, env)
    obs, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 64))
    mask = jax.vmap(env.action_mask)(state)
    act = lambda: policy.act(params, policy.init_carry(64), obs, mask,  # noqa: E731
                             jnp.ones(64, bool), None)[0]

    def silence(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        return jnp.zeros_like(out) if isinstance(context.module, MessageChannel) else out

    with nn.intercept_methods(silence):
        muted = act()
    assert (np.asarray(act()) != np.asarray(muted)).mean() > 0.1
    with pytest.raises(ValueError, match="comm"):
        mappo.Config(comm="mean", parameter_sharing=False)
    with pytest.raises(TypeError, match="comm"):
        mappo.Config(comm="loud")


# rows x inputs x outputs -> the CPU form: narrow kernels (multiply-reduce), small kernels
# over 1024-4096 rows (two half-sums, one output included), and shapes left to the plain
# product (too many rows, a large kernel, an odd row count)
KERNEL_SHAPES = [((1536, 64, 5), "multiply_reduce"), ((300, 7, 3), "multiply_reduce"),
                 ((1536, 64, 64), "halves"), ((1030, 21, 64), "halves"),
                 ((1536, 64, 1), "halves"), ((4098, 8, 4), "product"),
                 ((1024, 64, 128), "product"), ((1535, 16, 16), "product")]


@pytest.mark.parametrize("shape,form", KERNEL_SHAPES)
def test_kernel_grad_is_the_rows_sum_in_every_form(shape, form):
    rows, d, k = shape
    assert networks.kernel_grad_form(rows, d, k) == form
    x = jax.random.normal(jax.random.key(0), (rows, d))
    g = jax.random.normal(jax.random.key(1), (rows, k))
    want = np.asarray(x, np.float64).T @ np.asarray(g, np.float64)
    forms = networks.kernel_grad_forms_for(rows).values()
    for f in (networks.kernel_grad, networks._kernel_grad_cpu, *forms):
        got = jax.jit(f)(x, g)
        assert got.shape == (d, k) and got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_dense_is_flax_dense_with_its_gradient_up_to_rounding():
    """The forward and the input gradient are bitwise flax's ``Dense``; the kernel gradient
    equals autodiff's to float rounding: on ``[T, B, D]`` inputs, under a vmap over seeds'
    parameters, for a narrow and a square layer."""
    plain = lambda f, s: nn.Dense(f, kernel_init=networks.orthogonal(s),  # noqa: E731
                                  bias_init=nn.initializers.zeros)
    x = jax.random.normal(jax.random.key(0), (3, 16, 32, 64))  # [seeds, T, B, D]: 512 rows
    x = jnp.concatenate([x, x], axis=2)  # 1024 rows per seed
    for features in (5, 64):
        ours, ref = networks.dense(features), plain(features, np.sqrt(2.0))
        params = jax.vmap(lambda k: ours.init(k, x[0]))(jax.random.split(jax.random.key(1), 3))

        def grads(layer):
            def one(p, xs):
                return jax.value_and_grad(
                    lambda p, xs: jnp.sum(jnp.tanh(layer.apply(p, xs)) ** 2), argnums=(0, 1))(
                        p, xs)
            return jax.jit(jax.vmap(one))(params, x)

        (v_ours, (gp_ours, gx_ours)), (v_ref, (gp_ref, gx_ref)) = grads(ours), grads(ref)
        np.testing.assert_array_equal(v_ours, v_ref)
        np.testing.assert_array_equal(gx_ours, gx_ref)
        np.testing.assert_array_equal(gp_ours["params"]["bias"], gp_ref["params"]["bias"])
        np.testing.assert_allclose(gp_ours["params"]["kernel"], gp_ref["params"]["kernel"],
                                   rtol=1e-4, atol=1e-4)


def test_dense_dot_general_passes_other_contractions_through():
    a = jax.random.normal(jax.random.key(0), (4, 3, 5))
    b = jax.random.normal(jax.random.key(1), (4, 5, 2))
    dims = (((2,), (1,)), ((0,), (0,)))  # a batched product: not a dense layer's
    np.testing.assert_array_equal(networks.dense_dot_general(a, b, dims),
                                  jax.lax.dot_general(a, b, dims))
